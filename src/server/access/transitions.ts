import type {Kysely} from 'kysely'
import type {AccessRequestState} from '../../protocol/agent/access.js'
import type {RecordAudit} from '../audit/types.js'
import type {AccessRequest, AccessRequestsTable, Database} from '../db/schema.js'

/**
 * The one guarded transition of an access request (house model: src/agent/connection-state.ts).
 * pending → approved | denied | expired; approved → expired | revoked; the rest is final. The
 * update names the states it may start from, so two nodes (or the device and the expiry sweep)
 * racing for one request change it once, and only the winner writes the audit event.
 */
export const ACCESS_TRANSITIONS: Record<AccessRequestState, readonly AccessRequestState[]> = {
  pending: ['approved', 'denied', 'expired'],
  approved: ['expired', 'revoked'],
  denied: [],
  expired: [],
  revoked: [],
}

/** The audit action each arrival state is recorded as. */
const AUDIT_ACTION: Record<Exclude<AccessRequestState, 'pending'>, string> = {
  approved: 'access.approved',
  denied: 'access.denied',
  expired: 'access.expired',
  revoked: 'access.revoked',
}

export function sourcesOf(to: AccessRequestState): AccessRequestState[] {
  return (Object.keys(ACCESS_TRANSITIONS) as AccessRequestState[]).filter((from) => ACCESS_TRANSITIONS[from].includes(to))
}

export interface Transition {
  to: Exclude<AccessRequestState, 'pending'>
  /** Columns set with the state (decided_at, until, ports...). */
  set?: Partial<Omit<AccessRequestsTable, 'id' | 'state'>>
  actorType: 'device' | 'system'
  actor: string
  details?: Record<string, unknown>
}

/**
 * Moves the request to `t.to` if its current state allows it, and records the audit event in
 * the same transaction. Returns false (and records nothing) when another change won.
 */
export async function transition(trx: Kysely<Database>, record: RecordAudit, request: AccessRequest, t: Transition): Promise<boolean> {
  const res = await trx
    .updateTable('access_requests')
    .set({...t.set, state: t.to})
    .where('id', '=', request.id)
    .where('state', 'in', sourcesOf(t.to))
    .executeTakeFirst()
  if (Number(res.numUpdatedRows) === 0) return false
  record({
    actorType: t.actorType,
    actor: t.actor,
    action: AUDIT_ACTION[t.to],
    outcome: t.to === 'denied' ? 'denied' : 'success',
    deviceSerial: request.serial,
    customerId: request.customer_id,
    details: {requestId: request.id, user: request.requested_by, reason: request.reason, previousState: request.state, ...t.details},
  })
  return true
}
