import {type Kysely, sql} from 'kysely'

/**
 * The audit chain head (docs/audit-format.md): one row holding the last appended seq and hash,
 * updated in the same transaction as every append, so that deleting the newest events
 * (truncation) is detected by `verify`, which the chain alone cannot show. Also indexes for
 * the export/list filters, each ending in seq so keyset pages stay index-ordered.
 */
export async function up(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema
    .createTable('audit_head')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('seq', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()
  // Start from the newest existing event, or from the genesis (seq 0, 64 zeros).
  await sql`
    insert into audit_head (id, seq, hash, updated_at)
    select 1, coalesce(max(e.seq), 0),
      coalesce((select hash from audit_events where seq = (select max(seq) from audit_events)), ${'0'.repeat(64)}),
      ${new Date().toISOString()}
    from audit_events e`.execute(db)
  await db.schema.createIndex('audit_events_actor_seq').on('audit_events').columns(['actor', 'seq']).execute()
  await db.schema.createIndex('audit_events_device_seq').on('audit_events').columns(['device_serial', 'seq']).execute()
  await db.schema.createIndex('audit_events_customer_seq').on('audit_events').columns(['customer_id', 'seq']).execute()
}
