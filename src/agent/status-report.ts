import type {AccessModeName} from '../protocol/agent/messages.js'
import {agentFiles, readAgentConfig} from './data-dir.js'
import {Outbox} from './outbox.js'
import {effectiveMode, readPolicy} from './policy.js'
import {processAlive, readStatus, type AgentStatus} from './status-file.js'
import {witnessReport, type WitnessReport} from './witness-files.js'

export interface AgentStatusReport extends WitnessReport {
  running: boolean
  pid: number | null
  state: AgentStatus['state'] | 'stopped'
  server: string
  serial: string
  proxy: string | null
  mode: AccessModeName
  modeUntil: string | null
  connectedSince: string | null
  nextRetryAt: string | null
  lastError: string | null
  lastErrorAt: string | null
  outboxPending: number
  /** Live remote sessions (none when the agent is not running). */
  sessions: AgentStatus['sessions']
  updatedAt: string | null
}

/** `tether agent status`: status.json when the agent that wrote it still runs, else "stopped"; the mode is read from policy.json. */
export async function statusReport(dataDir: string, now = Date.now()): Promise<AgentStatusReport> {
  const files = agentFiles(dataDir)
  const config = await readAgentConfig(files)
  const [status, policy, pending, witness] = await Promise.all([readStatus(files.status), readPolicy(files.policy), new Outbox(files.outbox).pending(), witnessReport(files)])
  const running = status !== null && status.state !== 'closed' && processAlive(status.pid)
  const mode = effectiveMode(policy, now)
  return {
    running,
    pid: running ? status!.pid : null,
    state: running ? status!.state : 'stopped',
    server: config.server,
    serial: config.serial,
    proxy: status?.proxy ?? config.proxy,
    mode: mode.mode,
    modeUntil: mode.until,
    connectedSince: running ? status!.connectedSince : null,
    nextRetryAt: running ? status!.nextRetryAt : null,
    lastError: status?.lastError ?? null,
    lastErrorAt: status?.lastErrorAt ?? null,
    outboxPending: pending.length,
    sessions: running ? status!.sessions : [],
    updatedAt: status?.updatedAt ?? null,
    ...witness,
  }
}
