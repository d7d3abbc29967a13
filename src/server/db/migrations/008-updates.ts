import type {Kysely} from 'kysely'

/**
 * Software updates (docs/updates.md, issue #12): the server's TUF repository.
 *  - tuf_metadata: every version of every role the server serves, as the exact bytes served
 *    (snapshot and timestamp hash them). The root chain is kept whole: a device that missed
 *    rotations walks it as `<N>.root.json`.
 *  - update_targets: the published packages, one row per signed target path, with where the
 *    verified bytes live (content-addressed under the updates storage dir).
 *  - update_publishes: a publish in progress: metadata already verified, packages still arriving.
 *    Nothing in it is served; it becomes live in one transaction at commit.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tuf_metadata')
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('json', 'text', (c) => c.notNull())
    .addColumn('expires', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('tuf_metadata_pk', ['role', 'version'])
    .execute()

  await db.schema
    .createTable('update_targets')
    .addColumn('path', 'text', (c) => c.primaryKey())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('models', 'text', (c) => c.notNull())
    .addColumn('length', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('custom', 'text', (c) => c.notNull())
    .addColumn('targets_version', 'integer', (c) => c.notNull())
    .addColumn('blob', 'text', (c) => c.notNull())
    .addColumn('published_by', 'text', (c) => c.notNull())
    .addColumn('published_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('update_targets_version').on('update_targets').column('version').execute()

  await db.schema
    .createTable('update_publishes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('roots', 'text', (c) => c.notNull())
    .addColumn('targets', 'text', (c) => c.notNull())
    .addColumn('targets_version', 'integer', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
}
