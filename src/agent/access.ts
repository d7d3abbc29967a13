import {agentFiles, readAgentConfig} from './data-dir.js'
import {localActor} from './enroll.js'
import {EventRecorder} from './events.js'
import {effectiveMode, newPolicy, readPolicy, writePolicy} from './policy.js'

export interface AccessView {
  mode: 'allow' | 'no-access'
  until: string | null
  changedAt: string | null
  changedBy: string | null
  allowedTunnelPorts: number[]
  acceptedJobKinds: string[]
}

export async function showAccess(dataDir: string, now = Date.now()): Promise<AccessView> {
  const files = agentFiles(dataDir)
  const [config, policy] = await Promise.all([readAgentConfig(files), readPolicy(files.policy)])
  const mode = effectiveMode(policy, now)
  return {
    mode: mode.mode,
    until: mode.until,
    changedAt: mode.expired ? policy.until : (policy.changedAt ?? null),
    changedBy: mode.expired ? 'agent (temporary allow expired)' : (policy.changedBy ?? null),
    allowedTunnelPorts: config.allowedTunnelPorts,
    acceptedJobKinds: config.acceptedJobKinds,
  }
}

/**
 * `tether agent access set`: writes policy.json atomically, then records the change in the local
 * audit and queues it for the server. The running agent picks the file up within its poll
 * interval; requests are checked against the file itself, so refusals apply at once.
 */
export async function setAccess(dataDir: string, mode: 'allow' | 'no-access', untilMs: number | undefined, now = Date.now()): Promise<AccessView> {
  const files = agentFiles(dataDir)
  await readAgentConfig(files)
  const before = effectiveMode(await readPolicy(files.policy), now)
  const actor = localActor()
  const policy = newPolicy(mode, untilMs, actor, now)
  await writePolicy(files.policy, policy)
  await new EventRecorder(files).record(
    {action: 'device.access-mode.changed', outcome: 'success', actor, details: {from: before.mode, to: mode, until: policy.until}},
    {forServer: true},
  )
  return showAccess(dataDir, now)
}
