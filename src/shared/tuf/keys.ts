import {createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign} from 'node:crypto'
import {Key, Signature} from '@tufjs/models'
import type {TufEd25519PublicKey} from '../../protocol/updates/online-keys.js'

/**
 * Ed25519 keys in TUF's form, with node:crypto alone. A `SigningKey` holds the private half (a
 * release machine's root/targets key, or the server's snapshot/timestamp key); a `Key` from
 * @tufjs/models is the public half as root.json lists it.
 */
export interface SigningKey {
  keyId: string
  publicKey: Key
  privateKey: KeyObject
}

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw 32-byte key follows it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/**
 * The TUF key id: hex SHA-256 of the canonical JSON of the public key object. Canonical JSON sorts
 * keys and escapes only `"` and `\`; a hex key and these fixed names contain neither, so this
 * literal is exactly the canonical form (and no extra dependency on the canonicaliser is needed).
 */
export function tufKeyId(publicHex: string): string {
  const canonical = `{"keytype":"ed25519","keyval":{"public":"${publicHex}"},"scheme":"ed25519"}`
  return createHash('sha256').update(canonical).digest('hex')
}

export function publicHexOf(key: KeyObject): string {
  return key.export({format: 'der', type: 'spki'}).subarray(ED25519_SPKI_PREFIX.length).toString('hex')
}

/** The public TUF key (as root.json lists it) for a raw Ed25519 public key in hex. */
export function tufPublicKey(publicHex: string): Key {
  return new Key({keyID: tufKeyId(publicHex), keyType: 'ed25519', scheme: 'ed25519', keyVal: {public: publicHex}})
}

export function signingKeyFrom(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('TUF keys here are Ed25519 keys')
  const publicKey = tufPublicKey(publicHexOf(createPublicKey(privateKey)))
  return {keyId: publicKey.keyID, publicKey, privateKey}
}

export function generateSigningKey(): SigningKey {
  return signingKeyFrom(generateKeyPairSync('ed25519').privateKey)
}

/** PKCS#8 PEM of the private key (what a key file holds). */
export function signingKeyPem(key: SigningKey): string {
  return key.privateKey.export({format: 'pem', type: 'pkcs8'}).toString()
}

export function signingKeyFromPem(pem: string): SigningKey {
  return signingKeyFrom(createPrivateKey(pem))
}

/** The signer `Metadata.sign` wants: Ed25519 over the canonical bytes it passes in. */
export function signerFor(key: SigningKey): (data: Buffer) => Signature {
  return (data) => new Signature({keyID: key.keyId, sig: sign(null, data, key.privateKey).toString('hex')})
}

/** The public key as an `OnlinePublicKeys` entry (the JSON the server prints for the release machine). */
export function publicKeyEntry(key: SigningKey | Key): TufEd25519PublicKey {
  const k = key instanceof Key ? key : key.publicKey
  return {keyid: k.keyID, keytype: 'ed25519', scheme: 'ed25519', keyval: {public: k.keyVal.public}}
}

/** A TUF key from an `OnlinePublicKeys` entry; undefined when its key id is not its key's (a wrong or edited file). */
export function keyFromEntry(entry: TufEd25519PublicKey): Key | undefined {
  const key = tufPublicKey(entry.keyval.public)
  return key.keyID === entry.keyid ? key : undefined
}
