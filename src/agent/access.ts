import type {AccessModeName} from '../protocol/agent/messages.js'
import {readAccessFile, type StoredAccessRequest} from './access-file.js'
import {decideAccessRequest, listAccessRequests, type AccessDecisionCommand} from './access-requests.js'
import {agentFiles, readAgentConfig} from './data-dir.js'
import {localActor} from './enroll.js'
import {EventRecorder} from './events.js'
import {effectiveMode, newPolicy, readPolicy, writePolicy} from './policy.js'

export interface AccessView {
  mode: AccessModeName
  until: string | null
  changedAt: string | null
  changedBy: string | null
  allowedTunnelPorts: number[]
  acceptedJobKinds: string[]
  /** Access requests waiting for a decision here, and grants in force (approval-required mode). */
  pendingRequests: number
  activeGrants: number
}

export async function showAccess(dataDir: string, now = Date.now()): Promise<AccessView> {
  const files = agentFiles(dataDir)
  const [config, policy, access] = await Promise.all([readAgentConfig(files), readPolicy(files.policy), readAccessFile(files.accessRequests)])
  const requests = access.ok ? access.requests : []
  const mode = effectiveMode(policy, now)
  return {
    mode: mode.mode,
    until: mode.until,
    changedAt: mode.expired ? policy.until : (policy.changedAt ?? null),
    changedBy: mode.expired ? 'agent (temporary allow expired)' : (policy.changedBy ?? null),
    allowedTunnelPorts: config.allowedTunnelPorts,
    acceptedJobKinds: config.acceptedJobKinds,
    pendingRequests: requests.filter((r) => r.state === 'pending' && Date.parse(r.expiresAt) > now).length,
    activeGrants: requests.filter((r) => r.state === 'approved' && r.until !== null && Date.parse(r.until) > now).length,
  }
}

/**
 * `tether agent access set`: writes policy.json atomically, then records the change in the local
 * audit and queues it for the server. The running agent picks the file up within its poll
 * interval; requests are checked against the file itself, so refusals apply at once.
 */
export async function setAccess(dataDir: string, mode: AccessModeName, untilMs: number | undefined, now = Date.now()): Promise<AccessView> {
  const files = agentFiles(dataDir)
  const config = await readAgentConfig(files)
  const before = effectiveMode(await readPolicy(files.policy), now)
  const actor = localActor()
  const policy = newPolicy(mode, untilMs, actor, now)
  await writePolicy(files.policy, policy)
  await new EventRecorder(files, config.outboxMax).record(
    {action: 'device.access-mode.changed', outcome: 'success', actor, details: {from: before.mode, to: mode, until: policy.until}},
    {forServer: true},
  )
  return showAccess(dataDir, now)
}

/** `tether agent access requests`: the engineers' requests this device holds, newest first. */
export async function accessRequests(dataDir: string, now = Date.now()): Promise<StoredAccessRequest[]> {
  const files = agentFiles(dataDir)
  const config = await readAgentConfig(files)
  return listAccessRequests(files, new EventRecorder(files, config.outboxMax), now)
}

/** `tether agent access approve|deny|revoke ID`: decided here, recorded locally, reported to the server. */
export async function decideAccess(dataDir: string, id: string, decision: AccessDecisionCommand, forMs: number | undefined, now = Date.now()): Promise<StoredAccessRequest> {
  const files = agentFiles(dataDir)
  const config = await readAgentConfig(files)
  return decideAccessRequest(files, new EventRecorder(files, config.outboxMax), id, decision, {forMs, actor: localActor(), config, now})
}
