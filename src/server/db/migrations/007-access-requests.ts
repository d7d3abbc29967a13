import type {Kysely} from 'kysely'

/**
 * Just-in-time access (docs/access-requests.md): engineers' requests for access to a device,
 * delivered to the device and decided there. `delivered_at` is null until the agent has stored
 * the request (it is pushed again on every connect until then).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('access_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('serial', 'text', (c) => c.notNull().references('devices.serial').onDelete('cascade'))
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('ports', 'text', (c) => c.notNull())
    .addColumn('duration_seconds', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('delivered_at', 'text')
    .addColumn('decided_at', 'text')
    .addColumn('decided_by', 'text')
    .addColumn('until', 'text')
    .execute()
  await db.schema.createIndex('access_requests_serial').on('access_requests').columns(['serial', 'state']).execute()
  await db.schema.createIndex('access_requests_state_expiry').on('access_requests').columns(['state', 'expires_at']).execute()
  await db.schema.createIndex('access_requests_created').on('access_requests').column('created_at').execute()
}
