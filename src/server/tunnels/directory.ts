import {type Kysely, sql} from 'kysely'
import type {Database, LiveTunnelRow} from '../db/schema.js'
import type {LiveTunnel} from './live.js'

/** Streams per counter refresh: 3 parameters each stays far below SQLite's and PostgreSQL's limits. */
const REFRESH_CHUNK = 2000
/** Lost streams closed per tick: a node that died with thousands is done over a few ticks. */
const LOST_PER_TICK = 200

/** What the refresh learnt about this node's streams: still recorded, and close requests. */
export interface RefreshResult {
  /** Ids of streams whose row is still there; a missing one was closed as node-lost by a survivor. */
  recorded: Set<string>
  /** Stream id → the user another node asked to close it for. */
  closeRequests: Map<string, string>
}

/**
 * The `live_tunnels` table: every node's live streams, as the nodes that carry them wrote them.
 * The owner inserts a row inside the tunnel.open transaction and deletes it inside the
 * tunnel.close one, so a row exists exactly while a stream is open and not yet audited closed.
 * A row is live while its node holds a live lease under the same instance (nodes.ts); any other
 * row is a stream lost with its node, closed by whichever surviving node deletes it first.
 */
export class TunnelDirectory {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly nodeId: string,
    private readonly instance: string,
  ) {}

  /** Inside the tunnel.open transaction. */
  async add(trx: Kysely<Database>, t: LiveTunnel, sourceIp: string | null): Promise<void> {
    await trx
      .insertInto('live_tunnels')
      .values({
        id: t.id, node_id: this.nodeId, instance: this.instance, serial: t.serial, customer_id: t.customerId, site_id: t.siteId, user_id: t.userId, username: t.username,
        source_ip: sourceIp, target: t.target, reason: t.reason, since: new Date(t.since).toISOString(), bytes_to_device: 0, bytes_from_device: 0, close_requested_by: null,
      })
      .execute()
  }

  /**
   * Inside a tunnel.close transaction: deletes the row and returns it, or undefined when another
   * transaction deleted it first (its close is audited already). The row lock makes the delete
   * the one place that decides who audits a close, whatever number of nodes race for it.
   */
  async remove(trx: Kysely<Database>, id: string, instance?: string): Promise<LiveTunnelRow | undefined> {
    let query = trx.deleteFrom('live_tunnels').where('id', '=', id)
    if (instance !== undefined) query = query.where('instance', '=', instance)
    return query.returningAll().executeTakeFirst()
  }

  /**
   * The lease tick: this node's byte counters in ONE statement (per REFRESH_CHUNK streams), which
   * also returns the rows it found, with their close requests.
   */
  async refresh(tunnels: readonly LiveTunnel[]): Promise<RefreshResult> {
    const out: RefreshResult = {recorded: new Set(), closeRequests: new Map()}
    for (let i = 0; i < tunnels.length; i += REFRESH_CHUNK) {
      const values = tunnels.slice(i, i + REFRESH_CHUNK).map((t) => sql`(${t.id}, cast(${t.counters.toDevice} as bigint), cast(${t.counters.fromDevice} as bigint))`)
      // VALUES columns are column1.. on both engines; UPDATE … FROM … RETURNING on both too.
      const {rows} = await sql<{id: string; close_requested_by: string | null}>`
        update live_tunnels set bytes_to_device = v.column2, bytes_from_device = v.column3
        from (values ${sql.join(values)}) as v
        where live_tunnels.id = v.column1 and live_tunnels.node_id = ${this.nodeId} and live_tunnels.instance = ${this.instance}
        returning live_tunnels.id, live_tunnels.close_requested_by`.execute(this.db)
      for (const row of rows) {
        out.recorded.add(row.id)
        if (row.close_requested_by !== null) out.closeRequests.set(row.id, row.close_requested_by)
      }
    }
    return out
  }

  /** This node's streams another node asked to close (id → by whom). */
  async closeRequests(): Promise<Map<string, string>> {
    const rows = await this.db
      .selectFrom('live_tunnels')
      .select(['id', 'close_requested_by'])
      .where('node_id', '=', this.nodeId)
      .where('instance', '=', this.instance)
      .where('close_requested_by', 'is not', null)
      .execute()
    return new Map(rows.map((r) => [r.id, r.close_requested_by!]))
  }

  /** Streams carried by live nodes (optionally one id). */
  async live(now = Date.now(), id?: string): Promise<LiveTunnelRow[]> {
    let query = this.db
      .selectFrom('live_tunnels')
      .innerJoin('nodes', 'nodes.id', 'live_tunnels.node_id')
      .selectAll('live_tunnels')
      .whereRef('nodes.instance', '=', 'live_tunnels.instance')
      .where('nodes.lease_until', '>', new Date(now).toISOString())
    if (id !== undefined) query = query.where('live_tunnels.id', '=', id)
    return query.orderBy('live_tunnels.since').execute()
  }

  /** Asks the owner to close a stream (it reads the request on NOTIFY, or on its next tick). */
  async requestClose(id: string, by: string): Promise<void> {
    await this.db.updateTable('live_tunnels').set({close_requested_by: by}).where('id', '=', id).where('close_requested_by', 'is', null).execute()
  }

  async exists(id: string): Promise<boolean> {
    return (await this.db.selectFrom('live_tunnels').select('id').where('id', '=', id).executeTakeFirst()) !== undefined
  }

  /** Rows no live process carries: their node's lease ran out, the node is gone, or it restarted. */
  async lost(now = Date.now()): Promise<LiveTunnelRow[]> {
    return this.db
      .selectFrom('live_tunnels')
      .leftJoin('nodes', 'nodes.id', 'live_tunnels.node_id')
      .selectAll('live_tunnels')
      .where((eb) => eb.or([eb('nodes.id', 'is', null), eb('nodes.lease_until', '<=', new Date(now).toISOString()), eb('nodes.instance', '<>', eb.ref('live_tunnels.instance'))]))
      .orderBy('live_tunnels.since')
      .limit(LOST_PER_TICK)
      .execute()
  }
}
