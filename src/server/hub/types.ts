import type {FastifyBaseLogger} from 'fastify'
import type {Kysely} from 'kysely'
import type {JobUpdateMessage} from '../../protocol/agent/jobs.js'
import type {Inventory} from '../../protocol/agent/messages.js'
import type {AuditLog} from '../audit/types.js'
import type {Database} from '../db/schema.js'
import type {DeviceLeases} from '../cluster/leases.js'
import type {HubAnchoring} from './anchoring.js'

/** The hub's settings, dependencies and the shapes it hands out (hub.ts). */
export interface HubOptions {
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  requestTimeoutMs: number
  /** The first message must be a valid hello within this time. */
  helloTimeoutMs?: number
  /** How often last_seen_at of connected devices is refreshed in the database. */
  touchIntervalMs?: number
}

export interface HubDeps {
  db: Kysely<Database>
  audit: AuditLog
  log: FastifyBaseLogger
  /** Audit checkpoints to hand out and witnesses to check (anchoring.ts); absent in some tests. */
  anchoring?: HubAnchoring
  /** Presence across nodes (src/server/cluster): a lease per device connected here; absent in some tests. */
  leases?: DeviceLeases
}

export interface Presence {
  online: boolean
  lastSeenAt: string
  inventory: Inventory | null
}

export interface BroadcastResult {
  sent: number
  answered: number
  failed: number
  elapsedMs: number
}

/** Jobs (src/server/jobs) plug in here: waiting jobs on connect, and agents' job updates. */
export interface HubJobHandler {
  connected(serial: string): Promise<unknown>
  update(device: {serial: string; customerId: string}, update: JobUpdateMessage): Promise<void>
}
