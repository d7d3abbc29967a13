import {z} from 'zod'
import {AccessModeName} from '../protocol/agent/messages.js'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {readTextIfExists} from '../shared/optional-file.js'

/** status.json: written by the running agent, read by `tether agent status`. */
export const AgentStatus = z.object({
  pid: z.number(),
  updatedAt: z.string(),
  startedAt: z.string(),
  state: z.enum(['initial', 'connecting', 'connected', 'waiting', 'revoked', 'closed']),
  stateSince: z.string(),
  server: z.string(),
  serial: z.string(),
  proxy: z.string().nullable(),
  mode: AccessModeName,
  modeUntil: z.string().nullable(),
  protocolVersion: z.number().nullable(),
  connectedSince: z.string().nullable(),
  lastConnectedAt: z.string().nullable(),
  nextRetryAt: z.string().nullable(),
  attempts: z.number(),
  lastError: z.string().nullable(),
  lastErrorAt: z.string().nullable(),
  outboxPending: z.number(),
  /** Live remote sessions (tunnel streams) through this device. */
  sessions: z
    .array(z.object({id: z.string(), user: z.string(), target: z.string(), reason: z.string().nullable(), since: z.string(), bytesToDevice: z.number(), bytesFromDevice: z.number()}))
    .default([]),
})
export type AgentStatus = z.infer<typeof AgentStatus>

export async function writeStatus(path: string, status: AgentStatus): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(status, null, 2)}\n`, 0o644)
}

export async function readStatus(path: string): Promise<AgentStatus | null> {
  const text = await readTextIfExists(path)
  if (text === null) return null
  try {
    const parsed = AgentStatus.safeParse(JSON.parse(text))
    return parsed.success ? parsed.data : null
  } catch {
    // A status file being replaced is never torn (atomic rename); garbage means "unknown".
    return null
  }
}

/** True when a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The running agent's status.json: the current values, and writes queued so that an older
 * snapshot never lands after a newer one.
 */
export class StatusKeeper {
  readonly current: AgentStatus
  writtenAt = 0
  private queue: Promise<void> = Promise.resolve()

  constructor(
    private readonly path: string,
    private readonly now: () => number,
    private readonly onError: (error: Error) => void,
    initial: Pick<AgentStatus, 'server' | 'serial' | 'proxy'>,
  ) {
    const at = new Date(now()).toISOString()
    this.current = {
      pid: process.pid, updatedAt: at, startedAt: at, state: 'initial', stateSince: at, ...initial, mode: 'allow', modeUntil: null,
      protocolVersion: null, connectedSince: null, lastConnectedAt: null, nextRetryAt: null, attempts: 0, lastError: null, lastErrorAt: null,
      outboxPending: 0, sessions: [],
    }
  }

  /** Writes a snapshot; `final` marks the agent closed (it is stopping). */
  save(final = false): Promise<void> {
    this.current.updatedAt = new Date(this.now()).toISOString()
    this.writtenAt = this.now()
    const snapshot: AgentStatus = final ? {...this.current, state: 'closed', connectedSince: null} : {...this.current}
    this.queue = this.queue.then(() => writeStatus(this.path, snapshot).catch((error: Error) => this.onError(error)))
    return this.queue
  }
}
