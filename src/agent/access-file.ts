import {z} from 'zod'
import {AccessPort, AccessRequestState} from '../protocol/agent/access.js'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {UsageError} from '../shared/errors.js'
import {readTextIfExists} from '../shared/optional-file.js'

/**
 * access-requests.json: the engineers' requests this device received and what was decided.
 * An `approved` entry whose `until` has not passed IS the grant (grants.ts reads it); there is
 * no second file to keep in step. Written atomically (temp file + rename) under the data lock;
 * readers never see half a file. docs/access-requests.md shows the format.
 */
export const StoredAccessRequest = z.object({
  id: z.uuid(),
  user: z.string().min(1).max(64),
  reason: z.string().max(256),
  /** Requested ports (empty: the ports the device allows); once approved, the ports granted. */
  ports: z.array(AccessPort),
  durationSeconds: z.number().int().positive(),
  requestedAt: z.string(),
  /** Undecided after this, the request expires. */
  expiresAt: z.string(),
  receivedAt: z.string(),
  state: AccessRequestState,
  decidedAt: z.string().nullable(),
  /** The local actor who decided ("local:alice"), or "agent" for an expiry. */
  decidedBy: z.string().nullable(),
  /** Approved: when the grant ends. */
  until: z.string().nullable(),
})
export type StoredAccessRequest = z.infer<typeof StoredAccessRequest>

export const AccessRequestsFile = z.object({version: z.literal(1), requests: z.array(StoredAccessRequest)})
export type AccessRequestsFile = z.infer<typeof AccessRequestsFile>

/** Decided requests kept for `agent access requests`; the local audit keeps them all. */
export const KEEP_DECIDED = 200
/** Undecided requests one device holds at most; a new one beyond it is refused. */
export const MAX_PENDING = 100

export type ReadResult = {ok: true; requests: StoredAccessRequest[]} | {ok: false; problem: string}

/** The file's requests; a missing file is none, a damaged one is reported (callers fail closed). */
export async function readAccessFile(path: string): Promise<ReadResult> {
  const text = await readTextIfExists(path)
  if (text === null) return {ok: true, requests: []}
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return {ok: false, problem: `not JSON (${(error as Error).message})`}
  }
  const parsed = AccessRequestsFile.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return {ok: false, problem: `${issue.path.join('.') || '(root)'}: ${issue.message}`}
  }
  return {ok: true, requests: parsed.data.requests}
}

/** For commands: a damaged file is an error that says which file and what to do, never overwritten. */
export async function readAccessRequestsOrThrow(path: string): Promise<StoredAccessRequest[]> {
  const read = await readAccessFile(path)
  if (!read.ok) {
    throw new UsageError(`${path} is damaged: ${read.problem}; no access is granted while it is`, {
      suggestions: [`Move it aside (mv ${path} ${path}.bad): pending requests are delivered again by the server; approved grants must be approved again.`],
    })
  }
  return read.requests
}

/** Writes the requests, newest first, keeping every undecided or live one and the latest KEEP_DECIDED others. */
export async function writeAccessFile(path: string, requests: StoredAccessRequest[], now: number): Promise<void> {
  const live = (r: StoredAccessRequest) => r.state === 'pending' || (r.state === 'approved' && r.until !== null && Date.parse(r.until) > now)
  const sorted = [...requests].sort((a, b) => (a.receivedAt < b.receivedAt ? 1 : a.receivedAt > b.receivedAt ? -1 : 0))
  const kept = [...sorted.filter(live), ...sorted.filter((r) => !live(r)).slice(0, KEEP_DECIDED)]
  kept.sort((a, b) => (a.receivedAt < b.receivedAt ? 1 : a.receivedAt > b.receivedAt ? -1 : 0))
  const file: AccessRequestsFile = {version: 1, requests: kept}
  await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`, 0o600)
}
