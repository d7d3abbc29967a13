import {type Kysely, sql} from 'kysely'
import type {AuditInput, AuditLog} from '../audit/types.js'
import type {Database, LiveTunnelRow} from '../db/schema.js'
import type {LiveTunnel, LiveTunnels} from './live.js'

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
 * Where a node's live streams are known to the other nodes, and the audit of their open and
 * close that goes with it. Two implementations, chosen once by the database (plugin.ts):
 * SharedTunnelDirectory (PostgreSQL, several nodes: the live_tunnels table) and
 * LocalTunnelDirectory (SQLite, one node: memory, with the same rows kept only so that a crashed
 * process's streams are closed in the audit when it starts again).
 */
export interface TunnelDirectory {
  /** Audits the open (`event`) and makes the stream known, together. */
  recordOpen(t: LiveTunnel, sourceIp: string | null, event: AuditInput): Promise<void>
  /** Audits the close unless another node did already (node-lost); true when this call did. */
  recordClose(id: string, event: AuditInput): Promise<boolean>
  /** The lease tick: this node's counters, and what other nodes did to its streams. */
  refresh(tunnels: readonly LiveTunnel[]): Promise<RefreshResult>
  /** This node's streams another node asked to close (id → by whom). */
  closeRequests(): Promise<Map<string, string>>
  /** Streams carried by live nodes (optionally one id), oldest first. */
  live(now?: number, id?: string): Promise<LiveTunnelRow[]>
  /** Asks the owning node to close a stream (it reads the request on NOTIFY, or on its next tick). */
  requestClose(id: string, by: string): Promise<void>
  exists(id: string): Promise<boolean>
  /** Streams no live process carries: their node's lease ran out, the node is gone, or it restarted. */
  lost(now?: number): Promise<LiveTunnelRow[]>
  /** Audits a lost stream's close (`event`) and forgets it, unless another node did: true when this call did. */
  recordLost(row: LiveTunnelRow, event: AuditInput): Promise<boolean>
}

/**
 * The `live_tunnels` table: every node's live streams, as the nodes that carry them wrote them.
 * The owner inserts a row inside the tunnel.open transaction and deletes it inside the
 * tunnel.close one, so a row exists exactly while a stream is open and not yet audited closed.
 * A row is live while its node holds a live lease under the same instance (nodes.ts); any other
 * row is a stream lost with its node, closed by whichever surviving node deletes it first: the
 * delete … returning in the audit's transaction takes the row lock, so racing nodes close it once.
 */
export class SharedTunnelDirectory implements TunnelDirectory {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly nodeId: string,
    private readonly instance: string,
  ) {}

  recordOpen(t: LiveTunnel, sourceIp: string | null, event: AuditInput): Promise<void> {
    return this.audit.transaction(async (trx, record) => {
      await insertRow(trx, rowOf(t, this.nodeId, this.instance, sourceIp))
      record(event)
    })
  }

  recordClose(id: string, event: AuditInput): Promise<boolean> {
    return this.audit.transaction(async (trx, record) => {
      const gone = await trx.deleteFrom('live_tunnels').where('id', '=', id).returning('id').executeTakeFirst()
      if (gone) record(event)
      return gone !== undefined
    })
  }

  recordLost(row: LiveTunnelRow, event: AuditInput): Promise<boolean> {
    return recordLostRow(this.audit, row, event)
  }

  /** The rows found, with their close requests. */
  async refresh(tunnels: readonly LiveTunnel[]): Promise<RefreshResult> {
    const out: RefreshResult = {recorded: new Set(), closeRequests: new Map()}
    for (const row of await refreshCounters(this.db, this.nodeId, this.instance, tunnels)) {
      out.recorded.add(row.id)
      if (row.close_requested_by !== null) out.closeRequests.set(row.id, row.close_requested_by)
    }
    return out
  }

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

  async requestClose(id: string, by: string): Promise<void> {
    await this.db.updateTable('live_tunnels').set({close_requested_by: by}).where('id', '=', id).where('close_requested_by', 'is', null).execute()
  }

  async exists(id: string): Promise<boolean> {
    return (await this.db.selectFrom('live_tunnels').select('id').where('id', '=', id).executeTakeFirst()) !== undefined
  }

  lost(now = Date.now()): Promise<LiveTunnelRow[]> {
    return lostRows(this.db, now)
  }
}

/**
 * One node (SQLite): its memory is the whole truth for listing and closing; no other node can
 * ask. Its rows in live_tunnels are written in the audit's group commit, beside the open and
 * close events (on SQLite every commit is a synchronous fsync: a transaction per stream would
 * stall the event loop when fifty streams open at once). They serve one purpose: after a crash,
 * the next process finds the streams the dead one left open and audits their close (node-lost.ts).
 */
export class LocalTunnelDirectory implements TunnelDirectory {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly streams: LiveTunnels,
    private readonly audit: AuditLog,
    private readonly nodeId: string,
    private readonly instance: string,
  ) {}

  async recordOpen(t: LiveTunnel, sourceIp: string | null, event: AuditInput): Promise<void> {
    await this.audit.append(event, (trx) => insertRow(trx, rowOf(t, this.nodeId, this.instance, sourceIp)))
  }

  async recordClose(id: string, event: AuditInput): Promise<boolean> {
    await this.audit.append(event, async (trx) => void (await trx.deleteFrom('live_tunnels').where('id', '=', id).execute()))
    return true
  }

  recordLost(row: LiveTunnelRow, event: AuditInput): Promise<boolean> {
    return recordLostRow(this.audit, row, event)
  }

  /** Counters kept for a crash's close event; nobody else removes this node's rows. */
  async refresh(tunnels: readonly LiveTunnel[]): Promise<RefreshResult> {
    await refreshCounters(this.db, this.nodeId, this.instance, tunnels)
    return {recorded: new Set(tunnels.map((t) => t.id)), closeRequests: new Map()}
  }

  async closeRequests(): Promise<Map<string, string>> {
    return new Map()
  }

  async live(_now?: number, id?: string): Promise<LiveTunnelRow[]> {
    const tunnels = id === undefined ? this.streams.all() : [this.streams.get(id)].flatMap((t) => (t ? [t] : []))
    return tunnels.sort((a, b) => a.since - b.since).map((t) => this.row(t))
  }

  async requestClose(): Promise<void> {}

  async exists(id: string): Promise<boolean> {
    return this.streams.get(id) !== undefined
  }

  /** Rows of an earlier process: it crashed with the streams open (a clean stop closes them all). */
  lost(now = Date.now()): Promise<LiveTunnelRow[]> {
    return lostRows(this.db, now)
  }

  private row(t: LiveTunnel): LiveTunnelRow {
    return {
      id: t.id, node_id: this.nodeId, instance: this.instance, serial: t.serial, customer_id: t.customerId, site_id: t.siteId, user_id: t.userId, username: t.username,
      source_ip: null, target: t.target, reason: t.reason, since: new Date(t.since).toISOString(), bytes_to_device: t.counters.toDevice, bytes_from_device: t.counters.fromDevice, close_requested_by: null,
    }
  }
}

function rowOf(t: LiveTunnel, nodeId: string, instance: string, sourceIp: string | null): LiveTunnelRow {
  return {
    id: t.id, node_id: nodeId, instance, serial: t.serial, customer_id: t.customerId, site_id: t.siteId, user_id: t.userId, username: t.username,
    source_ip: sourceIp, target: t.target, reason: t.reason, since: new Date(t.since).toISOString(), bytes_to_device: 0, bytes_from_device: 0, close_requested_by: null,
  }
}

async function insertRow(trx: Kysely<Database>, row: LiveTunnelRow): Promise<void> {
  await trx.insertInto('live_tunnels').values(row).execute()
}

/** ONE statement per REFRESH_CHUNK streams; returns the rows it found, with their close requests. */
async function refreshCounters(db: Kysely<Database>, nodeId: string, instance: string, tunnels: readonly LiveTunnel[]): Promise<Array<{id: string; close_requested_by: string | null}>> {
  const found: Array<{id: string; close_requested_by: string | null}> = []
  for (let i = 0; i < tunnels.length; i += REFRESH_CHUNK) {
    const values = tunnels.slice(i, i + REFRESH_CHUNK).map((t) => sql`(${t.id}, cast(${t.counters.toDevice} as bigint), cast(${t.counters.fromDevice} as bigint))`)
    // VALUES columns are column1.. on both engines; UPDATE … FROM … RETURNING on both too.
    const {rows} = await sql<{id: string; close_requested_by: string | null}>`
      update live_tunnels set bytes_to_device = v.column2, bytes_from_device = v.column3
      from (values ${sql.join(values)}) as v
      where live_tunnels.id = v.column1 and live_tunnels.node_id = ${nodeId} and live_tunnels.instance = ${instance}
      returning live_tunnels.id, live_tunnels.close_requested_by`.execute(db)
    found.push(...rows)
  }
  return found
}

/** Streams no live process carries: their node's lease ran out, the node is gone, or it restarted. */
function lostRows(db: Kysely<Database>, now: number): Promise<LiveTunnelRow[]> {
  return db
    .selectFrom('live_tunnels')
    .leftJoin('nodes', 'nodes.id', 'live_tunnels.node_id')
    .selectAll('live_tunnels')
    .where((eb) => eb.or([eb('nodes.id', 'is', null), eb('nodes.lease_until', '<=', new Date(now).toISOString()), eb('nodes.instance', '<>', eb.ref('live_tunnels.instance'))]))
    .orderBy('live_tunnels.since')
    .limit(LOST_PER_TICK)
    .execute()
}

function recordLostRow(audit: AuditLog, row: LiveTunnelRow, event: AuditInput): Promise<boolean> {
  return audit.transaction(async (trx, record) => {
    // Only the row as read: a node that restarted meanwhile under another instance has its own rows.
    const gone = await trx.deleteFrom('live_tunnels').where('id', '=', row.id).where('instance', '=', row.instance).returning('id').executeTakeFirst()
    if (gone) record(event)
    return gone !== undefined
  })
}
