import type {FastifyBaseLogger} from 'fastify'
import type {Kysely} from 'kysely'
import type {Database} from '../db/schema.js'

/** Rows per INSERT/DELETE: 4 parameters each stays far below SQLite's and PostgreSQL's limits. */
const CHUNK = 500

/** What the hub tells presence: a device said hello here, or its connection here ended. */
export interface DeviceLeases {
  hold(serial: string): void
  release(serial: string): void
}

type Pending = {kind: 'hold'; connectedAt: string} | {kind: 'release'}

/**
 * This node's device leases in `device_presence`. Holds and releases are buffered and written in
 * a few multi-row statements per flush (10,000 agents reconnecting cost ~20 statements, not
 * 10,000), and failed writes are kept for the next flush. Renewal is ONE UPDATE for every device
 * of this node (`renew`), whatever their number. A release deletes only this node's row, so a
 * device that already moved to another node keeps that node's lease.
 */
export class LeaseWriter implements DeviceLeases {
  private pending = new Map<string, Pending>()
  private flushing: Promise<void> = Promise.resolve()

  constructor(
    private readonly db: Kysely<Database>,
    private readonly nodeId: string,
    private readonly leaseMs: number,
    private readonly log: FastifyBaseLogger,
  ) {}

  hold(serial: string): void {
    this.pending.set(serial, {kind: 'hold', connectedAt: new Date().toISOString()})
  }

  release(serial: string): void {
    this.pending.set(serial, {kind: 'release'})
  }

  get hasPending(): boolean {
    return this.pending.size > 0
  }

  /** Writes what is pending; concurrent calls queue behind each other. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write())
    return this.flushing
  }

  /** Extends every lease this node holds by one lease period: one statement. */
  async renew(now = Date.now()): Promise<void> {
    await this.db.updateTable('device_presence').set({lease_until: new Date(now + this.leaseMs).toISOString()}).where('node_id', '=', this.nodeId).execute()
  }

  /**
   * Drops every lease under this node id: at start (leases a crashed process of the same id left
   * would otherwise be renewed by this one) and at a clean stop (devices are offline at once,
   * not when the leases run out).
   */
  async dropAll(): Promise<void> {
    this.pending.clear()
    await this.db.deleteFrom('device_presence').where('node_id', '=', this.nodeId).execute()
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return
    const batch = this.pending
    this.pending = new Map()
    const leaseUntil = new Date(Date.now() + this.leaseMs).toISOString()
    const holds = [...batch].flatMap(([serial, p]) => (p.kind === 'hold' ? [{serial, node_id: this.nodeId, connected_at: p.connectedAt, lease_until: leaseUntil}] : []))
    const releases = [...batch].flatMap(([serial, p]) => (p.kind === 'release' ? [serial] : []))
    try {
      for (let i = 0; i < holds.length; i += CHUNK) {
        await this.db
          .insertInto('device_presence')
          .values(holds.slice(i, i + CHUNK))
          .onConflict((oc) =>
            oc.column('serial').doUpdateSet((eb) => ({node_id: eb.ref('excluded.node_id'), connected_at: eb.ref('excluded.connected_at'), lease_until: eb.ref('excluded.lease_until')})),
          )
          .execute()
      }
      for (let i = 0; i < releases.length; i += CHUNK) {
        await this.db.deleteFrom('device_presence').where('node_id', '=', this.nodeId).where('serial', 'in', releases.slice(i, i + CHUNK)).execute()
      }
    } catch (error) {
      // Keep the newest intent per device for the next flush rather than lose a release.
      for (const [serial, p] of batch) if (!this.pending.has(serial)) this.pending.set(serial, p)
      this.log.warn({err: error, devices: batch.size}, 'cluster: writing device leases failed; will retry')
    }
  }
}
