import type {AccessDecision, AccessRequestParams} from '../protocol/agent/access.js'
import {ProtocolErrorCodes} from '../protocol/agent/messages.js'
import {ConflictError, NotFoundError, UsageError} from '../shared/errors.js'
import {formatDuration} from '../shared/duration.js'
import {MAX_PENDING, readAccessFile, readAccessRequestsOrThrow, writeAccessFile, type StoredAccessRequest} from './access-file.js'
import type {AgentConfig, AgentFiles} from './data-dir.js'
import type {EventRecorder, RecordInput} from './events.js'
import type {HandlerContext} from './handlers.js'
import type {ResponseBody} from './session.js'

/**
 * Just-in-time access on the device (docs/access-requests.md). The server delivers an
 * engineer's request (`access.request`); it waits in access-requests.json until someone at the
 * device approves or denies it (`tether agent access approve|deny`), or it expires. An approval
 * is a grant for that engineer, those ports, until a time (grants.ts answers "may this user
 * reach this port now?"). Every change is written to the local audit in the same locked step,
 * and decisions also go to the server as `device.access.decided` events through the outbox.
 */
export type AccessDecisionCommand = Exclude<AccessDecision, 'expired'>

export interface DecideOptions {
  /** approve: how long (at most what was asked for); default: what was asked for. */
  forMs?: number
  actor: string
  config: Pick<AgentConfig, 'allowedTunnelPorts'>
  now: number
}

const iso = (ms: number) => new Date(ms).toISOString()

/** The device cannot take a request now (its file is damaged, too many undecided); the server retries. */
export class AccessIntakeError extends Error {}

/**
 * Stores a request the server delivered. Delivery is at-least-once (again on every connect
 * until the server has our answer), so a request already stored is answered with its state.
 */
export async function receiveAccessRequest(files: AgentFiles, recorder: EventRecorder, params: AccessRequestParams, now: number): Promise<StoredAccessRequest> {
  return recorder.recordChange(async () => {
    const read = await readAccessFile(files.accessRequests)
    if (!read.ok) throw new AccessIntakeError(`${files.accessRequests} is damaged (${read.problem}); fix it on the device`)
    const known = read.requests.find((r) => r.id === params.requestId)
    if (known) return {result: known, records: []}
    if (read.requests.filter((r) => r.state === 'pending').length >= MAX_PENDING) {
      throw new AccessIntakeError(`this device already holds ${MAX_PENDING} undecided access requests`)
    }
    const stored: StoredAccessRequest = {
      id: params.requestId,
      user: params.user,
      reason: params.reason,
      ports: params.ports,
      durationSeconds: params.durationSeconds,
      requestedAt: params.requestedAt,
      expiresAt: params.expiresAt,
      receivedAt: iso(now),
      state: 'pending',
      decidedAt: null,
      decidedBy: null,
      until: null,
    }
    const details = {requestId: stored.id, user: stored.user, reason: stored.reason, ports: stored.ports, durationSeconds: stored.durationSeconds, expiresAt: stored.expiresAt}
    return {
      result: stored,
      save: () => writeAccessFile(files.accessRequests, [stored, ...read.requests], now),
      records: [{action: 'access.requested', outcome: 'success', actor: 'server', details, options: {forServer: false}}],
    }
  })
}

/** The `access.request` entry of the agent's request handlers: stored, answered with its state. */
export async function handleAccessRequest(params: AccessRequestParams, ctx: HandlerContext): Promise<ResponseBody> {
  try {
    const stored = await receiveAccessRequest(ctx.files, ctx.recorder, params, ctx.now())
    return {ok: true, result: {state: stored.state}}
  } catch (error) {
    // Said to the server (it logs it and delivers again later); anything else is a bug and throws.
    if (error instanceof AccessIntakeError) return {ok: false, error: {code: ProtocolErrorCodes.refusedByDevice, message: error.message}}
    throw error
  }
}

/** Expires what is due (a request nobody decided in time, a grant that ran out); recorded in both audits. */
export async function sweepAccessRequests(files: AgentFiles, recorder: EventRecorder, now: number): Promise<number> {
  const due = (r: StoredAccessRequest) => (r.state === 'pending' && Date.parse(r.expiresAt) <= now) || (r.state === 'approved' && r.until !== null && Date.parse(r.until) <= now)
  // The running agent sweeps on every poll: take the data lock only when something is due.
  const glance = await readAccessFile(files.accessRequests)
  if (!glance.ok || !glance.requests.some(due)) return 0
  return recorder.recordChange(async () => {
    const read = await readAccessFile(files.accessRequests)
    // A damaged file grants nothing (grants.ts fails closed); the commands report it.
    if (!read.ok) return {result: 0, records: []}
    const records: RecordInput[] = []
    const requests = read.requests.map((r) => {
      if (!due(r)) return r
      records.push(decidedRecord(r, 'expired', 'agent'))
      return {...r, state: 'expired' as const, decidedAt: r.state === 'pending' ? iso(now) : r.decidedAt}
    })
    if (records.length === 0) return {result: 0, records}
    return {result: records.length, save: () => writeAccessFile(files.accessRequests, requests, now), records}
  })
}

/** `tether agent access requests`: everything kept, newest first, after expiring what is due. */
export async function listAccessRequests(files: AgentFiles, recorder: EventRecorder, now: number): Promise<StoredAccessRequest[]> {
  await readAccessRequestsOrThrow(files.accessRequests)
  await sweepAccessRequests(files, recorder, now)
  return readAccessRequestsOrThrow(files.accessRequests)
}

/** approve / deny / revoke one request by id (or a unique prefix of at least 4 characters). */
export async function decideAccessRequest(files: AgentFiles, recorder: EventRecorder, idOrPrefix: string, decision: AccessDecisionCommand, options: DecideOptions): Promise<StoredAccessRequest> {
  await sweepAccessRequests(files, recorder, options.now)
  return recorder.recordChange(async () => {
    const requests = await readAccessRequestsOrThrow(files.accessRequests)
    const request = findRequest(requests, idOrPrefix)
    const decided = DECISIONS[decision](request, options)
    const others = requests.filter((r) => r.id !== request.id)
    return {
      result: decided,
      save: () => writeAccessFile(files.accessRequests, [decided, ...others], options.now),
      records: [decidedRecord(decided, decision, options.actor)],
    }
  })
}

/** Each decision's guard (the states it may start from) and the request it leaves. */
const DECISIONS: Record<AccessDecisionCommand, (r: StoredAccessRequest, o: DecideOptions) => StoredAccessRequest> = {
  approved(r, o) {
    mustBe(r, 'pending', 'approve')
    const askedMs = r.durationSeconds * 1000
    const forMs = o.forMs ?? askedMs
    if (forMs > askedMs) throw new UsageError(`--for: ${r.user} asked for ${formatDuration(askedMs)}; a grant can be shorter, not longer`)
    const ports = r.ports.length > 0 ? r.ports : o.config.allowedTunnelPorts
    if (ports.length === 0) {
      throw new UsageError(`request ${r.id} names no ports and this device allows none (allowedTunnelPorts in agent.json is empty)`, {
        suggestions: ['Allow the ports first (tether agent config), or deny the request.'],
      })
    }
    return {...r, state: 'approved', ports, decidedAt: iso(o.now), decidedBy: o.actor, until: iso(o.now + forMs)}
  },
  denied(r, o) {
    mustBe(r, 'pending', 'deny')
    return {...r, state: 'denied', decidedAt: iso(o.now), decidedBy: o.actor}
  },
  revoked(r, o) {
    mustBe(r, 'approved', 'revoke')
    // The grant ends now: `until` says when it actually ended.
    return {...r, state: 'revoked', decidedAt: iso(o.now), decidedBy: o.actor, until: iso(o.now)}
  },
}

function mustBe(r: StoredAccessRequest, state: StoredAccessRequest['state'], verb: string): void {
  if (r.state === state) return
  const hint = r.state === 'pending' ? 'it is still pending (approve or deny it)' : `it is already ${r.state}`
  throw new ConflictError(`cannot ${verb} request ${r.id}: ${hint}`)
}

function findRequest(requests: StoredAccessRequest[], idOrPrefix: string): StoredAccessRequest {
  const id = idOrPrefix.trim().toLowerCase()
  const exact = requests.find((r) => r.id === id)
  if (exact) return exact
  const matches = id.length >= 4 ? requests.filter((r) => r.id.startsWith(id)) : []
  if (matches.length === 1) return matches[0]
  if (matches.length > 1) throw new UsageError(`ID: "${idOrPrefix}" matches ${matches.length} requests; give more of the id`)
  throw new NotFoundError(`no access request "${idOrPrefix}" on this device`, {suggestions: ['List them with `tether agent access requests`.']})
}

/** The decision as both audits record it; an approval carries the grant (ports, until). */
function decidedRecord(r: StoredAccessRequest, decision: AccessDecision, actor: string): RecordInput {
  const grant = decision === 'approved' ? {ports: r.ports, until: r.until} : {}
  return {action: 'device.access.decided', outcome: 'success', actor, details: {requestId: r.id, decision, user: r.user, ...grant}, options: {forServer: true}}
}
