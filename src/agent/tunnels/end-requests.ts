import {rm} from 'node:fs/promises'
import {z} from 'zod'
import {writeFileAtomic} from '../../shared/atomic-file.js'
import {readTextIfExists} from '../../shared/optional-file.js'
import type {AgentFiles} from '../data-dir.js'

const EndRequest = z.object({ids: z.union([z.literal('all'), z.array(z.string().max(64)).max(256)]), by: z.string().max(128), at: z.string()})
export type EndRequest = z.infer<typeof EndRequest>

/**
 * `tether agent sessions end` asks the running agent to end streams by writing this file (the
 * agent listens on no socket); the agent takes it on its next check, within a quarter second
 * while streams are live.
 */
export async function requestSessionEnd(files: AgentFiles, ids: string[] | 'all', by: string): Promise<void> {
  await writeFileAtomic(files.endSessions, `${JSON.stringify({ids, by, at: new Date().toISOString()})}\n`, 0o600)
}

/** Reads and removes a pending end request; a damaged one is removed and ignored. */
export async function takeSessionEndRequest(files: AgentFiles): Promise<EndRequest | null> {
  const text = await readTextIfExists(files.endSessions)
  if (text === null) return null
  await rm(files.endSessions, {force: true})
  try {
    const parsed = EndRequest.safeParse(JSON.parse(text))
    return parsed.success ? parsed.data : null
  } catch {
    return null
  }
}
