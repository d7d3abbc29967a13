import type {AuditCheckpoint, CheckpointPublicKey} from '../protocol/audit-checkpoint.js'
import {checkpointSignatureValid, keyIdOf} from '../shared/checkpoint-signature.js'
import type {AgentFiles} from './data-dir.js'
import {withDataLock} from './data-lock.js'
import {LocalAudit} from './local-audit.js'
import {readPinnedKey, readStoredWitness, writePinnedKey, writeStoredWitness} from './witness-files.js'

/**
 * The device as a witness of the server's audit chain (issue #9). The server signs its chain
 * head with its checkpoint key and sends each checkpoint to the agent; the agent keeps the latest
 * one that verifies under the key it pinned (on first sight, or when the server changed keys, which
 * is recorded), and shows it in its next `hello`, so a
 * server whose database was rewritten or rolled back behind that checkpoint is caught by the
 * server's own check (and, here, by a checkpoint that goes backwards). Every acceptance, every
 * regression and a key change are written to the device's hash-chained audit: the device's copy
 * of what the server said cannot be edited quietly either.
 *
 * Key changes and checkpoints are applied one at a time, in arrival order, under the data-dir
 * lock: ws may deliver `welcome` and the first `checkpoint` in the same tick, and the checkpoint
 * must be judged against the key that welcome brought.
 */
export interface WitnessLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export type KeyOutcome = 'absent' | 'pinned' | 'matches' | 'changed' | 'invalid' | 'error'
export type CheckpointOutcome = 'witnessed' | 'unchanged' | 'regressed' | 'unverified' | 'dropped' | 'error'

/** Checkpoints waiting to be applied; the server sends one per signing, so more means a flood. */
const MAX_PENDING = 16

export class Witness {
  private readonly audit: LocalAudit
  private queue: Promise<unknown> = Promise.resolve()
  private pending = 0

  constructor(
    private readonly files: AgentFiles,
    private readonly log: WitnessLog,
    private readonly now: () => number = Date.now,
  ) {
    this.audit = new LocalAudit(files.audit)
  }

  /** The checkpoint to present in `hello`; none when nothing was witnessed or witness.json is unreadable (logged). */
  async forHello(): Promise<AuditCheckpoint | undefined> {
    // A checkpoint still being stored (from the link that just dropped) belongs in this hello.
    await this.queue
    try {
      return (await readStoredWitness(this.files))?.checkpoint
    } catch (error) {
      this.log.warn({err: (error as Error).message}, 'witness.json unreadable; hello goes without a witness')
      return undefined
    }
  }

  /** welcome.checkpointKey: pinned on first sight; another key is recorded in the local audit and pinned. */
  offerKey(key: CheckpointPublicKey | undefined): Promise<KeyOutcome> {
    return this.serial(() => this.applyKey(key), 'could not apply the server checkpoint key')
  }

  /** A `checkpoint` message. Never rejects: what goes wrong is logged and answered in the outcome. */
  receive(checkpoint: AuditCheckpoint): Promise<CheckpointOutcome> {
    if (this.pending >= MAX_PENDING) {
      this.log.warn({seq: checkpoint.seq, pending: this.pending}, 'too many audit checkpoints waiting; this one is dropped (a later one supersedes it)')
      return Promise.resolve('dropped')
    }
    this.pending++
    return this.serial(() => this.applyCheckpoint(checkpoint), 'could not store an audit checkpoint').finally(() => this.pending--)
  }

  private serial<T extends string>(fn: () => Promise<T>, failure: string): Promise<T | 'error'> {
    const run = this.queue.then(() => withDataLock(this.files.lock, fn)).catch((error: Error) => {
      // A full disk or a damaged file: the agent keeps serving; the operator sees it in the log.
      this.log.warn({err: error.message}, failure)
      return 'error' as const
    })
    this.queue = run
    return run
  }

  private async applyKey(key: CheckpointPublicKey | undefined): Promise<KeyOutcome> {
    // A server without a checkpoint key (or an older one) sends none; that proves nothing either way.
    if (!key) return 'absent'
    if (keyIdOf(Buffer.from(key.publicKey, 'base64url')) !== key.keyId) {
      this.log.warn({keyId: key.keyId}, 'the server offered a checkpoint key whose id does not match the key; ignored')
      return 'invalid'
    }
    const at = new Date(this.now()).toISOString()
    const pinned = await readPinnedKey(this.files)
    if (!pinned) {
      await this.audit.append({action: 'audit.checkpoint.key-pinned', outcome: 'success', actor: 'agent', details: {keyId: key.keyId, publicKey: key.publicKey}})
      await writePinnedKey(this.files, {v: 1, key, pinnedAt: at, previous: null})
      this.log.info({keyId: key.keyId}, 'pinned the server audit checkpoint key')
      return 'pinned'
    }
    if (pinned.key.keyId === key.keyId && pinned.key.publicKey === key.publicKey) return 'matches'
    // Only someone holding the server's data dir can change its key, and such a party could sign
    // anything with the old key too: refusing the new key would guard against nobody, and would
    // leave every device presenting a witness the server can no longer check. So the change is
    // recorded here (for good), the witness this device held was presented in this very hello
    // (the server records it as refused), and the new key is pinned.
    await this.audit.append({action: 'audit.checkpoint.key-changed', outcome: 'failure', actor: 'agent', details: {pinnedKeyId: pinned.key.keyId, offeredKeyId: key.keyId}})
    await writePinnedKey(this.files, {v: 1, key, pinnedAt: at, previous: {keyId: pinned.key.keyId, pinnedAt: pinned.pinnedAt}})
    this.log.warn({previousKeyId: pinned.key.keyId, keyId: key.keyId}, 'the server signs audit checkpoints with a new key; recorded in the local audit and re-pinned')
    return 'changed'
  }

  private async applyCheckpoint(cp: AuditCheckpoint): Promise<CheckpointOutcome> {
    const pinned = await readPinnedKey(this.files)
    if (!pinned || !checkpointSignatureValid(cp, pinned.key)) {
      const why = !pinned ? 'no checkpoint key is pinned' : cp.keyId === pinned.key.keyId ? 'bad signature' : `signed by key ${cp.keyId}, pinned ${pinned.key.keyId}`
      this.log.warn({seq: cp.seq, keyId: cp.keyId, why}, 'audit checkpoint not accepted')
      return 'unverified'
    }
    const held = (await readStoredWitness(this.files))?.checkpoint
    // A witness under a key no longer pinned belongs to the old key's chain: nothing to compare with.
    const stored = held?.keyId === pinned.key.keyId ? held : undefined
    if (stored && (cp.seq < stored.seq || (cp.seq === stored.seq && cp.hash !== stored.hash))) {
      // Behind or beside what this device already saw signed: the server's chain was rolled back or forked.
      const details = {stored: {seq: stored.seq, hash: stored.hash, time: stored.time}, received: {seq: cp.seq, hash: cp.hash, time: cp.time}}
      await this.audit.append({action: 'audit.checkpoint.regressed', outcome: 'denied', actor: 'agent', details})
      this.log.warn(details, 'the server sent an audit checkpoint behind the one this device witnessed (rollback or fork); kept the stored one')
      return 'regressed'
    }
    if (stored && cp.seq === stored.seq) return 'unchanged'
    // The audit line first: if the agent dies in between, the checkpoint is recorded twice, never not at all.
    await this.audit.append({action: 'audit.checkpoint.witnessed', outcome: 'success', actor: 'agent', details: {seq: cp.seq, hash: cp.hash, time: cp.time, keyId: cp.keyId, signature: cp.signature}})
    await writeStoredWitness(this.files, {v: 1, checkpoint: cp, receivedAt: new Date(this.now()).toISOString()})
    return 'witnessed'
  }
}
