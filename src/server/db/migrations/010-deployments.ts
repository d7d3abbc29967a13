import type {Kysely} from 'kysely'

/**
 * Staged rollouts of software updates (docs/updates.md "Rolling out"): a deployment and the
 * devices it targets, each in one stage, with the `update` job that carries it there. Also the
 * version a device reports as installed (hello inventory `softwareVersion`), so a rollout skips
 * devices that already run it.
 *
 * Numbered 010: 008 and 009 belong to other update work; Kysely orders migrations by name.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('devices').addColumn('software_version', 'text').execute()

  await db.schema
    .createTable('deployments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('target_path', 'text', (c) => c.notNull())
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('site_id', 'text')
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('stages', 'text', (c) => c.notNull())
    .addColumn('halt_after', 'text', (c) => c.notNull())
    .addColumn('stage_wait_seconds', 'integer', (c) => c.notNull())
    .addColumn('deadline_seconds', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('current_stage', 'integer', (c) => c.notNull())
    .addColumn('stage_started_at', 'text', (c) => c.notNull())
    .addColumn('stage_done_at', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('halted_reason', 'text')
    .execute()
  await db.schema.createIndex('deployments_status').on('deployments').columns(['status', 'updated_at']).execute()
  await db.schema.createIndex('deployments_customer').on('deployments').columns(['customer_id', 'created_at']).execute()

  await db.schema
    .createTable('deployment_devices')
    .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
    .addColumn('serial', 'text', (c) => c.notNull().references('devices.serial').onDelete('cascade'))
    .addColumn('stage', 'integer', (c) => c.notNull())
    .addColumn('job_id', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('phase', 'text')
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('dispatched_at', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('deployment_devices_pk', ['deployment_id', 'serial'])
    .execute()
  await db.schema.createIndex('deployment_devices_job').on('deployment_devices').column('job_id').execute()
  await db.schema.createIndex('deployment_devices_state').on('deployment_devices').columns(['deployment_id', 'stage', 'state']).execute()
}
