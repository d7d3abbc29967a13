import type {Kysely} from 'kysely'

/**
 * The device agent (docs/agent-protocol.md): one-time enrollment tokens (hashed), and the ids
 * of device events already recorded in the audit log, so that an agent redelivering its
 * outbox after a reconnect is acknowledged without a second audit entry.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('enrollment_tokens')
    // SHA-256 (hex) of the token; the token itself is shown once and never stored.
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('serial', 'text', (c) => c.notNull().references('devices.serial').onDelete('cascade'))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute()
  await db.schema.createIndex('enrollment_tokens_serial').on('enrollment_tokens').column('serial').execute()
  await db.schema
    .createTable('agent_events')
    .addColumn('event_id', 'text', (c) => c.primaryKey())
    .addColumn('serial', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('agent_events_received').on('agent_events').column('received_at').execute()
}
