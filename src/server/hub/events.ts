import type {Kysely} from 'kysely'
import type {EventMessage} from '../../protocol/agent/messages.js'
import type {AuditLog} from '../audit/types.js'
import type {Database} from '../db/schema.js'

/** Ids of recorded device events are kept this long; an outbox holding older events re-records them. */
export const AGENT_EVENT_RETENTION_MS = 90 * 86_400_000

/**
 * Records a device's local audit event in the server's audit log exactly once: an id seen
 * before is skipped. The id is stored after the audit commit, so a crash in between records
 * the event twice at worst (recognisable by details.eventId), never zero times.
 */
export async function recordDeviceEvent(
  db: Kysely<Database>,
  audit: AuditLog,
  device: {serial: string; customerId: string},
  event: EventMessage,
): Promise<'recorded' | 'duplicate'> {
  const seen = await db.selectFrom('agent_events').select('event_id').where('event_id', '=', event.eventId).executeTakeFirst()
  if (seen) return 'duplicate'
  await audit.append({
    actorType: 'device',
    actor: device.serial,
    action: event.action,
    outcome: event.outcome,
    deviceSerial: device.serial,
    customerId: device.customerId,
    details: {...event.details, eventId: event.eventId, deviceTime: event.time},
  })
  await db
    .insertInto('agent_events')
    .values({event_id: event.eventId, serial: device.serial, received_at: new Date().toISOString()})
    .onConflict((oc) => oc.column('event_id').doNothing())
    .execute()
  return 'recorded'
}

export async function pruneEventIds(db: Kysely<Database>, now = Date.now()): Promise<void> {
  await db.deleteFrom('agent_events').where('received_at', '<', new Date(now - AGENT_EVENT_RETENTION_MS).toISOString()).execute()
}
