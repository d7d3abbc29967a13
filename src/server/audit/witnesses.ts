import type {AuditCheckpoint} from '../../protocol/audit-checkpoint.js'
import type {Checkpoints, CheckpointVerdict} from './checkpoints.js'
import {type AuditStore, auditDb} from './tables.js'
import type {AuditLog} from './types.js'

/**
 * Devices as witnesses: each connected agent keeps the latest checkpoint it received and
 * presents it when it connects again. The server checks that its chain still extends it; a
 * mismatch is an alarm (an audit event, an error in the server log, and a problem `audit verify`
 * reports for as long as the device's witness stands). To rewrite history unseen, one would have
 * to rewrite every device that saw it as well.
 */
export interface WitnessResult {
  verdict: CheckpointVerdict
  /** The alarm was recorded now (not for a witness already known to mismatch). */
  alarmed: boolean
}

export async function recordWitness(
  store: AuditStore,
  audit: AuditLog,
  checkpoints: Checkpoints,
  device: {serial: string; customerId: string},
  cp: AuditCheckpoint,
): Promise<WitnessResult> {
  const verdict = await checkpoints.check(cp)
  const row = {seq: cp.seq, hash: cp.hash, time: cp.time, key_id: cp.keyId, signature: cp.signature, received_at: new Date().toISOString(), verdict: verdict.verdict}
  // The same witness with the same verdict as last time (every reconnect of a quiet device, and
  // thousands at once after a restart): nothing to write, no write lock taken, and no second alarm
  // (a device reconnecting every minute must not flood the trail).
  const stored = await auditDb(store.db).selectFrom('audit_witnesses').select(['seq', 'hash', 'verdict']).where('serial', '=', device.serial).executeTakeFirst()
  if (stored && Number(stored.seq) === cp.seq && stored.hash === cp.hash && stored.verdict === verdict.verdict) return {verdict, alarmed: false}
  return audit.transaction(async (trx, record) => {
    await auditDb(trx)
      .insertInto('audit_witnesses')
      .values({serial: device.serial, ...row})
      .onConflict((oc) => oc.column('serial').doUpdateSet(row))
      .execute()
    if (verdict.verdict === 'ok') return {verdict, alarmed: false}
    record({
      actorType: 'system',
      actor: 'tether-server',
      action: verdict.verdict === 'mismatch' ? 'audit.witness.mismatch' : 'audit.witness.refused',
      outcome: 'failure',
      deviceSerial: device.serial,
      customerId: device.customerId,
      details: {verdict: verdict.verdict, message: verdict.message, checkpoint: {seq: cp.seq, hash: cp.hash, time: cp.time, keyId: cp.keyId}},
    })
    return {verdict, alarmed: true}
  })
}

export interface WitnessFinding {
  seq: number
  hash: string
  verdict: Exclude<CheckpointVerdict['verdict'], 'ok'>
  message: string
  /** Devices holding this witness (at most 10 named), and how many in all. */
  devices: string[]
  deviceCount: number
}

/** Distinct witnesses re-checked per verify: far more than the distinct checkpoints ever signed in practice. */
const MAX_DISTINCT = 10_000

/**
 * Re-checks every distinct checkpoint the devices hold against the chain as it is now (for
 * `audit verify`): a witness that matched when it was presented may not match a chain
 * rewritten since.
 */
export async function checkWitnesses(store: AuditStore, checkpoints: Checkpoints): Promise<{checked: number; devices: number; findings: WitnessFinding[]}> {
  const db = auditDb(store.db)
  const distinct = await db
    .selectFrom('audit_witnesses')
    .select(['seq', 'hash', 'time', 'key_id', 'signature'])
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .groupBy(['seq', 'hash', 'time', 'key_id', 'signature'])
    .orderBy('seq')
    .limit(MAX_DISTINCT)
    .execute()
  const findings: WitnessFinding[] = []
  let devices = 0
  for (const w of distinct) {
    devices += Number(w.n)
    const cp: AuditCheckpoint = {v: 1, seq: Number(w.seq), hash: w.hash, time: w.time, keyId: w.key_id, signature: w.signature}
    const verdict = await checkpoints.check(cp)
    if (verdict.verdict === 'ok') continue
    const holders = await db.selectFrom('audit_witnesses').select('serial').where('seq', '=', w.seq).where('hash', '=', w.hash).orderBy('serial').limit(10).execute()
    findings.push({seq: cp.seq, hash: cp.hash, verdict: verdict.verdict, message: verdict.message, devices: holders.map((h) => h.serial), deviceCount: Number(w.n)})
  }
  return {checked: distinct.length, devices, findings}
}
