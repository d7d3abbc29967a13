/**
 * The small TUF library the release machine (src/client/update-repo), the server (publish, online
 * signing) and tests share: Ed25519 keys in TUF form, key files, signing, threshold checks and the
 * full check of a published repository. The agent uses tuf-js for its own client-side walk.
 */
export {TufMetadataError, type TufCheck} from './errors.js'
export {makeKeyDir, readKeyFile, writeKeyFile} from './key-files.js'
export {generateSigningKey, keyFromEntry, publicKeyEntry, signerFor, signingKeyFromPem, signingKeyPem, type SigningKey, tufKeyId, tufPublicKey} from './keys.js'
export {parseMetadata, readMetadataFile, type RoleName, type RoleTypes, serializeMetadata, writeMetadataFile} from './metadata-files.js'
export {signSnapshot, signTimestamp, SPEC_VERSION, tufExpires, type OnlineSignOptions} from './online-sign.js'
export {type PublishedRepoInput, type VerifiedRepo, type VerifiedTarget, verifyPublishedRepo, verifyTargetFile} from './published-repo.js'
export {keysForRole, signMetadata} from './sign.js'
export {verifyNotExpired, verifyThreshold} from './verify.js'
