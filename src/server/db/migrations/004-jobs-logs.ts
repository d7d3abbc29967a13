import type {Kysely} from 'kysely'

/**
 * Diagnostics and log pulls (docs/logs.md): jobs sent to devices, log bundle uploads (open and
 * complete; a bundle's id is its upload's id), and the master keys that wrap bundle data keys.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('serial', 'text', (c) => c.notNull().references('devices.serial').onDelete('cascade'))
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('params', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('deadline', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .addColumn('started_at', 'text')
    .addColumn('finished_at', 'text')
    .addColumn('progress', 'text')
    .addColumn('result', 'text')
    .addColumn('error', 'text')
    .execute()
  await db.schema.createIndex('jobs_serial_status').on('jobs').columns(['serial', 'status']).execute()
  await db.schema.createIndex('jobs_status_deadline').on('jobs').columns(['status', 'deadline']).execute()
  await db.schema.createIndex('jobs_created').on('jobs').column('created_at').execute()

  await db.schema
    .createTable('log_uploads')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('serial', 'text', (c) => c.notNull().references('devices.serial').onDelete('cascade'))
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text')
    .addColumn('initiator', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text')
    .addColumn('since', 'text')
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('committed', 'bigint', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('region', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('wrapped_key', 'text', (c) => c.notNull())
    .addColumn('file', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('completed_at', 'text')
    .execute()
  await db.schema.createIndex('log_uploads_serial').on('log_uploads').columns(['serial', 'status', 'created_at']).execute()
  await db.schema.createIndex('log_uploads_key').on('log_uploads').column('key_id').execute()

  await db.schema
    .createTable('logs_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('retired_at', 'text')
    .execute()
}
