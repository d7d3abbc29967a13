import {createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify} from 'node:crypto'
import {type AuditCheckpoint, CHECKPOINT_VERSION, type CheckpointPublicKey, checkpointSigningText} from '../protocol/audit-checkpoint.js'

/**
 * Ed25519 signing and checking of audit checkpoints, with node:crypto alone. The server signs
 * (src/server/audit/checkpoints.ts); the agent and the CLI check. Keys travel as the raw 32-byte
 * public key in base64url; the private key is stored as PKCS#8 PEM in the server's data dir.
 */

/** The raw 32-byte public key, from the SPKI DER (a fixed 12-byte prefix for Ed25519). */
function rawPublicKey(key: KeyObject): Buffer {
  return key.export({format: 'der', type: 'spki'}).subarray(12)
}

export function keyIdOf(rawPublic: Buffer): string {
  return createHash('sha256').update(rawPublic).digest('hex').slice(0, 16)
}

export interface CheckpointSigner {
  publicKey: CheckpointPublicKey
  sign(head: {seq: number; hash: string}, time?: Date): AuditCheckpoint
}

export function generateCheckpointKeyPem(): string {
  const {privateKey} = generateKeyPairSync('ed25519')
  return privateKey.export({format: 'pem', type: 'pkcs8'}).toString()
}

export function checkpointSigner(privateKeyPem: string): CheckpointSigner {
  const privateKey = createPrivateKey(privateKeyPem)
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('the audit checkpoint key must be an Ed25519 key')
  const raw = rawPublicKey(createPublicKey(privateKey))
  const keyId = keyIdOf(raw)
  return {
    publicKey: {keyId, publicKey: raw.toString('base64url')},
    sign(head, time = new Date()) {
      const body = {v: CHECKPOINT_VERSION, seq: head.seq, hash: head.hash, time: time.toISOString(), keyId} as const
      const signature = sign(null, Buffer.from(checkpointSigningText(body)), privateKey).toString('base64url')
      return {...body, signature}
    },
  }
}

/** True when the checkpoint was signed by this public key (and names it). */
export function checkpointSignatureValid(cp: AuditCheckpoint, key: CheckpointPublicKey): boolean {
  if (cp.keyId !== key.keyId) return false
  const raw = Buffer.from(key.publicKey, 'base64url')
  if (raw.length !== 32 || keyIdOf(raw) !== key.keyId) return false
  const publicKey = createPublicKey({key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki'})
  const {signature, ...body} = cp
  return verify(null, Buffer.from(checkpointSigningText(body)), publicKey, Buffer.from(signature, 'base64url'))
}

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE, AlgorithmIdentifier 1.3.101.112, BIT STRING. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
