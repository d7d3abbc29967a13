import type {Kysely} from 'kysely'

/**
 * Anchoring the audit chain outside the database (docs/audit-format.md, "Anchoring"):
 *  - audit_checkpoints: the signed checkpoints this server issued (the key is in the data dir;
 *    these rows are only a record, anyone holding a copy can check it against the chain);
 *  - audit_witnesses: the latest checkpoint each device presented on connect, and the verdict;
 *  - devices.events_refused: events a device sent that the registry refused (counted, not stored).
 */
export async function up(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  const bigint = dialect === 'postgres' ? 'bigint' : 'integer'
  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('seq', bigint, (c) => c.primaryKey())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('audit_witnesses')
    .addColumn('serial', 'text', (c) => c.primaryKey().references('devices.serial').onDelete('cascade'))
    .addColumn('seq', bigint, (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('verdict', 'text', (c) => c.notNull())
    .execute()
  await db.schema.alterTable('devices').addColumn('events_refused', 'integer', (c) => c.notNull().defaultTo(0)).execute()
}
