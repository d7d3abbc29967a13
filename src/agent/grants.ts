import {readAccessFile} from './access-file.js'
import type {AgentFiles} from './data-dir.js'

/**
 * What an approval at the device allows: this engineer, these ports, until then. In
 * approval-required mode a tunnel is let through only with one (the policy layer asks
 * activeGrant); nothing else reads grants.
 */
export interface Grant {
  requestId: string
  /** The engineer's username on the server (as the server sends it with a tunnel request). */
  user: string
  ports: number[]
  /** ISO-8601 UTC end of the grant. */
  until: string
  reason: string
  /** The local actor who approved it ("local:alice"). */
  approvedBy: string
}

/**
 * The grant that lets `user` reach `port` at `now`, or null. Reads access-requests.json on
 * every call (written atomically, so never torn): an approval, revocation or expiry applies at
 * once, also when made by another process. A damaged file grants nothing (fails closed). When
 * several grants match, the one lasting longest is returned.
 */
export async function activeGrant(files: AgentFiles, user: string, port: number, now: number): Promise<Grant | null> {
  const read = await readAccessFile(files.accessRequests)
  if (!read.ok) return null
  let best: Grant | null = null
  for (const r of read.requests) {
    if (r.state !== 'approved' || r.user !== user || r.until === null || !r.ports.includes(port)) continue
    const until = Date.parse(r.until)
    if (!(until > now)) continue
    if (best === null || until > Date.parse(best.until)) {
      best = {requestId: r.id, user: r.user, ports: r.ports, until: r.until, reason: r.reason, approvedBy: r.decidedBy ?? 'unknown'}
    }
  }
  return best
}
