import type {Kysely} from 'kysely'
import type {z} from 'zod'
import type {DEVICE_EVENTS} from '../../protocol/agent/device-events.js'
import type {RecordAudit} from '../audit/types.js'
import type {Database} from '../db/schema.js'
import {transition} from './transitions.js'

export type DeviceDecision = z.infer<(typeof DEVICE_EVENTS)['device.access.decided']>

/**
 * The effect of a `device.access.decided` event, run in the transaction that records the event
 * (hub/event-effects.ts): the server's copy of the request follows the device's decision, and
 * the change is audited as access.approved / denied / revoked / expired. A decision about a
 * request of another device, an unknown one, or one already past that state changes nothing
 * (the device event itself is on the audit trail either way).
 */
export async function applyDeviceDecision(trx: Kysely<Database>, record: RecordAudit, device: {serial: string}, decision: DeviceDecision): Promise<void> {
  const request = await trx.selectFrom('access_requests').selectAll().where('id', '=', decision.requestId).executeTakeFirst()
  if (!request || request.serial !== device.serial) return
  const now = new Date().toISOString()
  const approved = decision.decision === 'approved'
  await transition(trx, record, request, {
    to: decision.decision,
    set: {
      decided_at: decision.decision === 'expired' ? (request.decided_at ?? now) : now,
      decided_by: decision.decision === 'expired' ? (request.decided_by ?? decision.actor) : decision.actor,
      ...(approved ? {until: decision.until ?? null, ...(decision.ports ? {ports: JSON.stringify(decision.ports)} : {})} : {}),
      ...(decision.decision === 'revoked' ? {until: decision.until ?? now} : {}),
    },
    actorType: 'device',
    actor: device.serial,
    details: {decidedBy: decision.actor, ...(approved ? {ports: decision.ports ?? null, until: decision.until ?? null} : {})},
  })
}
