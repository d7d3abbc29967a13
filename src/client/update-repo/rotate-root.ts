import {mkdir, rename} from 'node:fs/promises'
import {basename, join} from 'node:path'
import type {Key} from '@tufjs/models'
import {generateSigningKey, keysForRole, makeKeyDir, readMetadataFile, signMetadata, verifyThreshold, writeKeyFile, writeMetadataFile, type SigningKey} from '../../shared/tuf/index.js'
import {checkThreshold} from './init.js'
import {loadOfflineKeys, repoPaths} from './layout.js'
import {readOnlineKeysFile} from './online-keys-file.js'
import {buildRoot, roleKeys} from './root-builder.js'

export interface RotateRootOptions {
  dir: string
  /** The new root's threshold (default: the current one). */
  threshold?: number
  /** Replace the root keys with this many new ones (default: keep them). */
  newKeys?: number
  /** New online public keys (default: keep the ones the current root names). */
  onlineKeysFile?: string
  expiresMs: number
  now?: Date
}

export interface RotateRootResult {
  dir: string
  previousVersion: number
  rootVersion: number
  threshold: number
  rootKeyIds: string[]
  /** Root key files moved to keys/retired/: needed by nothing once this root is published. */
  retiredKeyFiles: string[]
  newKeyFiles: string[]
  onlineKeysChanged: boolean
  rootExpires: string
  metadataFiles: string[]
}

/**
 * Root version N+1, signed by a threshold of version N's root keys and by its own threshold, which
 * is how a TUF client (the agent) accepts a rotation. N.root.json stays: devices with an older root
 * walk every version in turn.
 */
export async function rotateRoot(options: RotateRootOptions): Promise<RotateRootResult> {
  const paths = repoPaths(options.dir)
  const current = await readMetadataFile('root', paths.root)
  const currentRole = current.signed.roles.root
  const available = await loadOfflineKeys(paths)
  // Refuse before any change when the old threshold cannot sign: the rotation would be unreachable.
  const oldSigners = keysForRole(current.signed, 'root', available)

  const newKeyCount = options.newKeys ?? currentRole.keyIDs.length
  const threshold = options.threshold ?? Math.min(currentRole.threshold, newKeyCount)
  checkThreshold(threshold, newKeyCount, options.newKeys === undefined ? 'the current root keys:' : '--new-keys')
  const online = options.onlineKeysFile ? await readOnlineKeysFile(options.onlineKeysFile) : undefined
  const version = current.signed.version + 1

  let newSigners: SigningKey[] = oldSigners
  let rootPublicKeys: Key[] = roleKeys(current.signed, 'root')
  const retiredKeyFiles: string[] = []
  const newKeyFiles: string[] = []
  if (options.newKeys !== undefined) {
    // Move the old keys aside first (they still load from keys/retired/), then write the new ones:
    // a crash in between loses no key.
    const retiredDir = join(paths.retiredKeys, `root-v${current.signed.version}`)
    await makeKeyDir(paths.retiredKeys)
    await makeKeyDir(retiredDir)
    for (const key of available.filter((k) => currentRole.keyIDs.includes(k.keyId) && !k.file.startsWith(`${paths.retiredKeys}/`))) {
      const to = join(retiredDir, basename(key.file))
      await rename(key.file, to)
      retiredKeyFiles.push(to)
    }
    newSigners = []
    for (let i = 1; i <= options.newKeys; i++) {
      const key = generateSigningKey()
      const file = join(paths.keys, `root-${i}.key`)
      await writeKeyFile(file, key)
      newKeyFiles.push(file)
      newSigners.push(key)
    }
    rootPublicKeys = newSigners.map((k) => k.publicKey)
  }

  const targetsRole = current.signed.roles.targets
  const root = buildRoot({
    version,
    expires: new Date((options.now ?? new Date()).getTime() + options.expiresMs),
    root: {keys: rootPublicKeys, threshold},
    targets: {keys: roleKeys(current.signed, 'targets'), threshold: targetsRole.threshold},
    snapshot: online ? {keys: online.snapshot, threshold: 1} : {keys: roleKeys(current.signed, 'snapshot'), threshold: current.signed.roles.snapshot.threshold},
    timestamp: online ? {keys: online.timestamp, threshold: 1} : {keys: roleKeys(current.signed, 'timestamp'), threshold: current.signed.roles.timestamp.threshold},
  })
  signMetadata(root, [...oldSigners, ...newSigners])
  verifyThreshold(current, 'root', root, `${version}.root.json (by the keys of root ${current.signed.version})`)
  verifyThreshold(root, 'root', root, `${version}.root.json (by its own keys)`)

  await mkdir(paths.metadata, {recursive: true})
  await writeMetadataFile(paths.versionedRoot(version), root)
  await writeMetadataFile(paths.root, root)
  return {
    dir: options.dir,
    previousVersion: current.signed.version,
    rootVersion: version,
    threshold,
    rootKeyIds: rootPublicKeys.map((k) => k.keyID),
    retiredKeyFiles,
    newKeyFiles,
    onlineKeysChanged: online !== undefined,
    rootExpires: root.signed.expires,
    metadataFiles: [paths.versionedRoot(version), paths.root],
  }
}
