import {userInfo} from 'node:os'
import {agentDataDir, agentFiles} from '../data-dir.js'
import {readStatus} from '../status-file.js'
import {requestSessionEnd} from './end-requests.js'

const WAIT_MS = 3000

/**
 * `tether agent sessions end`: asks the running agent (end-requests.ts) and waits, bounded, until
 * status.json no longer lists the sessions. Ids that were not live are reported as such.
 */
export async function endSessions(dataDirFlag: string | undefined, ids: string[] | 'all'): Promise<{ended: string[]; stillLive: string[]}> {
  const files = agentFiles(agentDataDir(dataDirFlag))
  const before = (await readStatus(files.status))?.sessions.map((s) => s.id) ?? []
  const wanted = ids === 'all' ? before : ids.filter((id) => before.includes(id))
  if (wanted.length === 0) return {ended: [], stillLive: []}
  await requestSessionEnd(files, ids, `local:${userInfo().username}`)
  const deadline = Date.now() + WAIT_MS
  let live = wanted
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    const now = (await readStatus(files.status))?.sessions.map((s) => s.id) ?? []
    live = wanted.filter((id) => now.includes(id))
    if (live.length === 0) break
  }
  return {ended: wanted.filter((id) => !live.includes(id)), stillLive: live}
}
