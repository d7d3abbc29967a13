import type {Kysely} from 'kysely'

/**
 * Live tunnel streams as every node sees them (docs/tunnels.md, "Several server nodes"): the
 * owning node inserts a row with the stream's tunnel.open and deletes it with its tunnel.close
 * (each in the audit's transaction), refreshes the byte counters on its lease tick, and reads
 * close requests other nodes wrote. A row whose node lost its lease (or restarted: another
 * instance) is a stream nobody carries any more: a surviving node audits its close (node-lost)
 * and deletes it, once.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('live_tunnels')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('instance', 'text', (c) => c.notNull())
    .addColumn('serial', 'text', (c) => c.notNull())
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('site_id', 'text')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('source_ip', 'text')
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('since', 'text', (c) => c.notNull())
    .addColumn('bytes_to_device', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_from_device', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('close_requested_by', 'text')
    .execute()
  await db.schema.createIndex('live_tunnels_node').on('live_tunnels').columns(['node_id', 'instance']).execute()
}
