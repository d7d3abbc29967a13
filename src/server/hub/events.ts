import type {FastifyBaseLogger} from 'fastify'
import {type Kysely, sql} from 'kysely'
import {checkDeviceEvent} from '../../protocol/agent/device-events.js'
import type {EventMessage, ServerToAgent} from '../../protocol/agent/messages.js'
import type {AuditLog} from '../audit/types.js'
import type {Database} from '../db/schema.js'
import type {AgentConnection} from './connection.js'
import {DEVICE_EVENT_EFFECTS} from './event-effects.js'

/** Ids of recorded device events are kept this long; an outbox holding older events re-records them. */
export const AGENT_EVENT_RETENTION_MS = 90 * 86_400_000

export type EventOutcome = {kind: 'recorded'} | {kind: 'duplicate'} | {kind: 'refused'; code: string; message: string}

/**
 * Records a device's event in the server's audit log exactly once. Only actions of the device
 * event registry (src/protocol/agent/device-events.ts) with details that fit their schema are
 * recorded; anything else is refused (the agent drops it on the refused ack) and counted on the
 * device row. The event id and the audit event commit in one transaction: recorded once, never
 * twice, never lost.
 */
export async function recordDeviceEvent(
  db: Kysely<Database>,
  audit: AuditLog,
  device: {serial: string; customerId: string},
  event: EventMessage,
): Promise<EventOutcome> {
  const checked = checkDeviceEvent(event.action, event.details)
  if (!checked.ok) {
    await countRefused(db, device.serial)
    return {kind: 'refused', code: checked.code, message: checked.message}
  }
  return audit.transaction(async (trx, record) => {
    const inserted = await trx
      .insertInto('agent_events')
      .values({event_id: event.eventId, serial: device.serial, received_at: new Date().toISOString()})
      .onConflict((oc) => oc.column('event_id').doNothing())
      .executeTakeFirst()
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return {kind: 'duplicate'} as const
    record({
      actorType: 'device',
      actor: device.serial,
      action: event.action,
      outcome: event.outcome,
      deviceSerial: device.serial,
      customerId: device.customerId,
      details: {...checked.details, eventId: event.eventId, deviceTime: event.time},
    })
    await DEVICE_EVENT_EFFECTS[event.action as keyof typeof DEVICE_EVENT_EFFECTS]?.(trx, record, device, checked.details)
    return {kind: 'recorded'} as const
  })
}

/** One more refused event for the device (shown by `tether devices show`). */
export async function countRefused(db: Kysely<Database>, serial: string): Promise<void> {
  await db
    .updateTable('devices')
    .set({events_refused: sql<number>`events_refused + 1`})
    .where('serial', '=', serial)
    .execute()
}

type Reply = (message: ServerToAgent) => void

/**
 * The hub's intake of `event` messages: record (exactly once) and acknowledge, or refuse with an
 * acknowledgement that says why, so the agent drops it instead of resending it forever.
 */
export class DeviceEventIntake {
  constructor(private readonly deps: {db: Kysely<Database>; audit: AuditLog; log: FastifyBaseLogger}) {}

  /** The ack follows the commit, also for a duplicate; a refusal is acknowledged as such. */
  async onEvent(c: AgentConnection, event: EventMessage, reply: Reply): Promise<void> {
    const outcome = await recordDeviceEvent(this.deps.db, this.deps.audit, {serial: c.serial, customerId: c.customerId}, event)
    if (outcome.kind !== 'refused') return reply({type: 'event-ack', eventId: event.eventId})
    reply({type: 'event-ack', eventId: event.eventId, refused: {code: outcome.code, message: outcome.message}})
    await this.noteRefusal(c, event.action, outcome)
  }

  /** An event frame that did not even decode, but named its eventId. */
  async refuse(c: AgentConnection, eventId: string, refused: {code: string; message: string}, action: string, reply: Reply): Promise<void> {
    reply({type: 'event-ack', eventId, refused})
    await countRefused(this.deps.db, c.serial)
    await this.noteRefusal(c, action, refused)
  }

  /** Logged every time; on the audit trail once per connection, so a misbehaving device cannot flood it. */
  private async noteRefusal(c: AgentConnection, action: string, refused: {code: string; message: string}): Promise<void> {
    this.deps.log.warn({serial: c.serial, action: action.slice(0, 128), code: refused.code}, `hub: device event refused: ${refused.message}`)
    if (c.refusedEvents++ > 0) return
    await this.deps.audit.append({
      actorType: 'device',
      actor: c.serial,
      action: 'device.event.refused',
      outcome: 'denied',
      deviceSerial: c.serial,
      customerId: c.customerId,
      details: {action: action.slice(0, 128), code: refused.code, message: refused.message, note: 'later refusals on this connection are counted, not recorded'},
    })
  }
}

export async function pruneEventIds(db: Kysely<Database>, now = Date.now()): Promise<void> {
  await db.deleteFrom('agent_events').where('received_at', '<', new Date(now - AGENT_EVENT_RETENTION_MS).toISOString()).execute()
}
