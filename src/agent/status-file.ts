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
