import type {AuditCheckpoint} from '../../protocol/audit-checkpoint.js'
import type {AuditVerifyResponse} from '../../protocol/api/audit.js'
import type {Checkpoints} from './checkpoints.js'
import type {AuditStore} from './tables.js'
import {verifyChain} from './verify.js'
import {checkWitnesses} from './witnesses.js'

/**
 * `audit verify` in full: the chain itself (verify.ts), then every anchor outside the database
 * that can show a rewrite the chain alone cannot: the checkpoints the auditor kept, and the
 * checkpoints devices witnessed. A rewrite that recomputed every hash and the head passes the
 * first step and fails the second.
 */
export async function verifyWithAnchors(store: AuditStore, checkpoints: Checkpoints, given: AuditCheckpoint[]): Promise<AuditVerifyResponse> {
  const chain = await verifyChain(store)
  const problems: AuditVerifyResponse['problems'] = [...chain.problems]
  const verdicts: AuditVerifyResponse['checkpoints'] = []
  for (const cp of given) {
    const verdict = await checkpoints.check(cp)
    if (verdict.verdict === 'ok') {
      verdicts.push({seq: cp.seq, hash: cp.hash, verdict: 'ok'})
      continue
    }
    verdicts.push({seq: cp.seq, hash: cp.hash, verdict: verdict.verdict, message: verdict.message})
    problems.push({seq: cp.seq, id: null, kind: 'checkpoint', message: `checkpoint at seq ${cp.seq}: ${verdict.message}`})
  }
  const witnesses = await checkWitnesses(store, checkpoints)
  for (const w of witnesses.findings) {
    const who = w.deviceCount > w.devices.length ? `${w.devices.join(', ')} and ${w.deviceCount - w.devices.length} more` : w.devices.join(', ')
    problems.push({seq: w.seq, id: null, kind: 'witness', message: `witnessed by ${who}: ${w.message}`})
  }
  return {
    ok: problems.length === 0 && !chain.truncated,
    checked: chain.checked,
    head: chain.head,
    problems,
    truncated: chain.truncated,
    checkpoints: verdicts,
    witnesses: {checked: witnesses.checked, devices: witnesses.devices},
  }
}
