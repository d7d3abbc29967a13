import type {AccessMode} from '../protocol/agent/index.js'
import type {AgentFiles} from './data-dir.js'
import type {EventRecorder} from './events.js'
import {effectiveMode, readPolicy, writePolicy} from './policy.js'

/**
 * The access mode in force now. A temporary allow that ran out is made explicit on disk, once,
 * and told to both audits, so the file, `agent status` and the server agree on "no-access".
 */
export async function currentAccessMode(files: AgentFiles, recorder: EventRecorder, now: number): Promise<AccessMode> {
  const policy = await readPolicy(files.policy)
  const mode = effectiveMode(policy, now)
  if (mode.expired) {
    await writePolicy(files.policy, {mode: 'no-access', until: null, changedAt: new Date(now).toISOString(), changedBy: 'agent (temporary allow expired)'})
    await recorder.record({action: 'device.access-mode.changed', outcome: 'success', actor: 'agent', details: {from: 'allow', to: 'no-access', reason: 'expired', until: policy.until}}, {forServer: true})
  }
  return {mode: mode.mode, until: mode.until}
}
