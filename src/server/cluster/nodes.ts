import {randomUUID} from 'node:crypto'
import {loadavg} from 'node:os'
import type {FastifyBaseLogger} from 'fastify'
import type {Kysely} from 'kysely'
import type {Database, NodeRow} from '../db/schema.js'
import type {NodeIdentity} from './types.js'

/** What a node reports about itself with each heartbeat. */
export interface NodeLoad {
  agents: number
}

/**
 * This node's row in `nodes`: claimed at start, renewed every few seconds (heartbeat_at, a lease,
 * agent count and load), shortened at a clean stop. A node whose lease ran out is not live;
 * nothing has to delete it. A random instance id per process tells a restart (or, wrongly, two
 * processes given one node id) apart from our own row.
 */
export class NodeRegistry {
  readonly instance = randomUUID()
  private readonly startedAt = new Date().toISOString()
  private warnedTakeover = false

  constructor(
    private readonly db: Kysely<Database>,
    private readonly identity: NodeIdentity,
    private readonly leaseMs: number,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Claims the node id; warns when another process held it with a live lease. */
  async claim(load: NodeLoad, now = Date.now()): Promise<void> {
    const previous = await this.db.selectFrom('nodes').selectAll().where('id', '=', this.identity.nodeId).executeTakeFirst()
    if (previous && previous.lease_until > new Date(now).toISOString()) {
      this.log.warn(
        {nodeId: this.identity.nodeId, previousHeartbeat: previous.heartbeat_at},
        `cluster: node id "${this.identity.nodeId}" was still live in another process: a restart after a crash, or two nodes sharing one id (give each node its own --node-id)`,
      )
    }
    await this.upsert(load, now)
  }

  /** The heartbeat; re-claims (loudly) when another process took this id meanwhile. */
  async renew(load: NodeLoad, now = Date.now()): Promise<void> {
    const result = await this.db.updateTable('nodes').set(this.figures(load, now)).where('id', '=', this.identity.nodeId).where('instance', '=', this.instance).executeTakeFirst()
    if (Number(result.numUpdatedRows) > 0) return
    if (!this.warnedTakeover) {
      this.warnedTakeover = true
      this.log.error({nodeId: this.identity.nodeId}, `cluster: another process uses node id "${this.identity.nodeId}"; give each node its own --node-id`)
    }
    await this.upsert(load, now)
  }

  /** A clean stop: the node is no longer live from now on. */
  async retire(now = Date.now()): Promise<void> {
    const at = new Date(now).toISOString()
    await this.db.updateTable('nodes').set({lease_until: at, agents: 0}).where('id', '=', this.identity.nodeId).where('instance', '=', this.instance).execute()
  }

  private figures(load: NodeLoad, now: number) {
    return {
      heartbeat_at: new Date(now).toISOString(),
      lease_until: new Date(now + this.leaseMs).toISOString(),
      agents: load.agents,
      load_average: loadavg()[0],
      rss_bytes: process.memoryUsage.rss(),
    }
  }

  private async upsert(load: NodeLoad, now: number): Promise<void> {
    const row: NodeRow = {
      id: this.identity.nodeId,
      instance: this.instance,
      peer_address: this.identity.peerAddress,
      started_at: this.startedAt,
      ...this.figures(load, now),
    }
    const {id: _id, ...update} = row
    await this.db.insertInto('nodes').values(row).onConflict((oc) => oc.column('id').doUpdateSet(update)).execute()
  }
}

/** Nodes with a live lease, by id. */
export async function liveNodes(db: Kysely<Database>, now = Date.now()): Promise<NodeRow[]> {
  return db.selectFrom('nodes').selectAll().where('lease_until', '>', new Date(now).toISOString()).orderBy('id').execute()
}
