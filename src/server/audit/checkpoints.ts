import {mkdir} from 'node:fs/promises'
import {dirname} from 'node:path'
import type {AuditCheckpoint, CheckpointPublicKey} from '../../protocol/audit-checkpoint.js'
import {writeFileAtomic} from '../../shared/atomic-file.js'
import {type CheckpointSigner, checkpointSignatureValid, checkpointSigner, generateCheckpointKeyPem} from '../../shared/checkpoint-signature.js'
import {UsageError} from '../../shared/errors.js'
import {readTextIfExists} from '../../shared/optional-file.js'
import {type AuditStore, auditDb} from './tables.js'

/**
 * Signed checkpoints of the chain head (docs/audit-format.md, "Anchoring"). The key lives in the
 * data dir, never in the database: whoever can only write the database can rewrite the chain
 * and its head, but cannot sign a checkpoint for the rewritten one, and every checkpoint held
 * outside (by an auditor, by each connected device) then no longer matches.
 */

/** The checkpoint key, created (0600) on first use, as the other keys of a data dir are. */
export async function loadCheckpointSigner(keyFile: string): Promise<CheckpointSigner> {
  let pem = await readTextIfExists(keyFile)
  if (pem === null) {
    pem = generateCheckpointKeyPem()
    await mkdir(dirname(keyFile), {recursive: true, mode: 0o700})
    await writeFileAtomic(keyFile, pem, 0o600)
  }
  try {
    return checkpointSigner(pem)
  } catch (error) {
    throw new UsageError(`${keyFile}: not an Ed25519 private key in PEM (${(error as Error).message}); restore it from the first node's data dir`, {cause: error})
  }
}

/** What a held checkpoint says about the chain as it is now. */
export type CheckpointVerdict =
  | {verdict: 'ok'}
  | {verdict: 'mismatch'; message: string}
  | {verdict: 'unknown-key'; message: string}
  | {verdict: 'bad-signature'; message: string}

/**
 * How long the latest checkpoint read from the database is reused for handing out: after a
 * restart thousands of agents reconnect at once, and each welcome would otherwise read it again.
 * Another node's newer checkpoint is picked up within this time; this node's own at once.
 */
const LATEST_CACHE_MS = 10_000

export class Checkpoints {
  private readonly listeners = new Set<(checkpoint: AuditCheckpoint) => void>()
  private cached: {checkpoint: AuditCheckpoint | null; at: number} | null = null

  constructor(
    private readonly store: AuditStore,
    private readonly signer: CheckpointSigner,
  ) {}

  get publicKey(): CheckpointPublicKey {
    return this.signer.publicKey
  }

  /** Called with each checkpoint this node signs (the hub sends it to every agent). */
  onSigned(listener: (checkpoint: AuditCheckpoint) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async latest(): Promise<AuditCheckpoint | null> {
    const row = await auditDb(this.store.db).selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirst()
    const checkpoint = row ? {v: 1 as const, seq: Number(row.seq), hash: row.hash, time: row.time, keyId: row.key_id, signature: row.signature} : null
    this.cached = {checkpoint, at: Date.now()}
    return checkpoint
  }

  /** latest(), reused for LATEST_CACHE_MS: what the hub hands each connecting agent. */
  async recent(): Promise<AuditCheckpoint | null> {
    if (this.cached && Date.now() - this.cached.at < LATEST_CACHE_MS) return this.cached.checkpoint
    return this.latest()
  }

  /**
   * Signs the current head unless the latest checkpoint already covers it, and returns the
   * latest (null while the chain is empty). Several nodes may sign the same head; the first
   * stored wins and the others return it.
   */
  async signHead(): Promise<AuditCheckpoint | null> {
    const db = auditDb(this.store.db)
    const head = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow()
    const seq = Number(head.seq)
    if (seq === 0) return null
    const latest = await this.latest()
    if (latest && latest.seq >= seq) return latest
    const signed = this.signer.sign({seq, hash: head.hash})
    const inserted = await db
      .insertInto('audit_checkpoints')
      .values({seq, hash: signed.hash, time: signed.time, key_id: signed.keyId, signature: signed.signature})
      .onConflict((oc) => oc.column('seq').doNothing())
      .executeTakeFirst()
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return this.latest()
    this.cached = {checkpoint: signed, at: Date.now()}
    for (const listener of this.listeners) listener(signed)
    return signed
  }

  /**
   * Whether the chain still holds what the checkpoint says: signed by this server's key, and the
   * event at its seq still has its hash. (Together with an intact chain, that proves every event
   * up to that seq is the one that was signed.)
   */
  async check(cp: AuditCheckpoint): Promise<CheckpointVerdict> {
    const key = this.signer.publicKey
    if (cp.keyId !== key.keyId) return {verdict: 'unknown-key', message: `signed with key ${cp.keyId}, not this server's checkpoint key ${key.keyId}`}
    if (!checkpointSignatureValid(cp, key)) return {verdict: 'bad-signature', message: `the signature of the checkpoint at seq ${cp.seq} does not verify (forged or altered)`}
    const db = auditDb(this.store.db)
    const row = await db.selectFrom('audit_events').select(['hash']).where('seq', '=', cp.seq).executeTakeFirst()
    if (row?.hash === cp.hash) return {verdict: 'ok'}
    const head = await db.selectFrom('audit_head').select('seq').where('id', '=', 1).executeTakeFirstOrThrow()
    const short = (h: string) => h.slice(0, 16)
    if (!row && Number(head.seq) < cp.seq) {
      return {verdict: 'mismatch', message: `the chain ends at seq ${head.seq}, but seq ${cp.seq} was signed at ${cp.time}: the newest events were deleted and the head rolled back`}
    }
    if (!row) return {verdict: 'mismatch', message: `seq ${cp.seq}, signed at ${cp.time}, is missing from the chain (deleted)`}
    return {verdict: 'mismatch', message: `seq ${cp.seq} has hash ${short(row.hash)}…, but ${short(cp.hash)}… was signed at ${cp.time}: the chain was rewritten at or before seq ${cp.seq}`}
  }
}
