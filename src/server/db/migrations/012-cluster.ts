import type {Kysely} from 'kysely'

/**
 * Several nodes on one database (docs/operations.md, "Several nodes"): the live nodes, which
 * node holds each device's control channel (a lease renewed with the heartbeats, so a node that
 * dies loses its devices when its leases run out), and request counters shared by every node.
 * Times are ISO-8601 text like every other table, so they compare as strings on both engines.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('nodes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('instance', 'text', (c) => c.notNull())
    .addColumn('peer_address', 'text')
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('heartbeat_at', 'text', (c) => c.notNull())
    .addColumn('lease_until', 'text', (c) => c.notNull())
    .addColumn('agents', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('load_average', 'real', (c) => c.notNull().defaultTo(0))
    .addColumn('rss_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute()
  await db.schema
    .createTable('device_presence')
    .addColumn('serial', 'text', (c) => c.primaryKey())
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('connected_at', 'text', (c) => c.notNull())
    .addColumn('lease_until', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('device_presence_node').on('device_presence').columns(['node_id', 'lease_until']).execute()
  await db.schema
    .createTable('rate_limit_hits')
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('rate_limit_hits_pk', ['key', 'window_start'])
    .execute()
  await db.schema.createIndex('rate_limit_hits_window').on('rate_limit_hits').column('window_start').execute()
}
