import {z} from 'zod'

/**
 * A signed audit checkpoint (docs/audit-format.md, "Anchoring"): the server's statement that its
 * hash chain had `hash` at `seq` at `time`, signed with the Ed25519 checkpoint key that lives in
 * the server's data dir (never in the database). Auditors keep checkpoints outside
 * (`tether audit checkpoint`), and every connected agent keeps the latest one it saw as a
 * witness, so a rewrite of the database behind a checkpoint is detected. It crosses the
 * agent/server boundary and the admin API, hence here.
 */
export const CHECKPOINT_VERSION = 1

/** First 16 hex digits of the SHA-256 of the raw 32-byte Ed25519 public key. */
export const CheckpointKeyId = z.string().regex(/^[0-9a-f]{16}$/, '16 lowercase hex digits')

export const AuditCheckpoint = z.strictObject({
  v: z.literal(CHECKPOINT_VERSION),
  seq: z.number().int().nonnegative(),
  hash: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
  time: z.iso.datetime(),
  keyId: CheckpointKeyId,
  /** base64url of the 64-byte Ed25519 signature over checkpointSigningText(). */
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'base64url Ed25519 signature'),
})
export type AuditCheckpoint = z.infer<typeof AuditCheckpoint>

/** The public half of the checkpoint key: base64url of the raw 32-byte Ed25519 key. */
export const CheckpointPublicKey = z.strictObject({
  keyId: CheckpointKeyId,
  publicKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'base64url raw Ed25519 public key'),
})
export type CheckpointPublicKey = z.infer<typeof CheckpointPublicKey>

/**
 * The exact bytes signed: a fixed, line-based text rather than JSON, so no canonicalisation
 * question can ever arise between signer and verifier.
 */
export function checkpointSigningText(cp: Omit<AuditCheckpoint, 'signature'>): string {
  return `tether-audit-checkpoint\nv=${cp.v}\nseq=${cp.seq}\nhash=${cp.hash}\ntime=${cp.time}\nkey=${cp.keyId}\n`
}
