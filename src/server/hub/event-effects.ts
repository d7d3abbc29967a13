import type {Kysely} from 'kysely'
import type {DeviceEventAction} from '../../protocol/agent/device-events.js'
import {applyDeviceDecision, type DeviceDecision} from '../access/decisions.js'
import type {RecordAudit} from '../audit/types.js'
import type {Database} from '../db/schema.js'

/**
 * What a device event changes on the server besides being recorded, per action (a registry, like
 * DEVICE_EVENTS itself). An effect runs in the transaction that records the event, once per
 * eventId (a redelivered event is a duplicate and has no effect again), and audits its own
 * changes through `record`. Actions without an entry are only recorded.
 */
export type DeviceEventEffect = (trx: Kysely<Database>, record: RecordAudit, device: {serial: string; customerId: string}, details: Record<string, unknown>) => Promise<void>

export const DEVICE_EVENT_EFFECTS: Partial<Record<DeviceEventAction, DeviceEventEffect>> = {
  'device.access.decided': (trx, record, device, details) => applyDeviceDecision(trx, record, device, details as DeviceDecision),
}
