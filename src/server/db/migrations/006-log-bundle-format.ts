import type {Kysely} from 'kysely'

/**
 * Log bundles record their format (tar.gz before zstd, tar.zst since), so a download says what
 * it is and old bundles stay pullable; `streamed` marks uploads whose size and SHA-256 arrive
 * with the final chunk (until then `size` is 0 and `sha256` empty, and nothing is served).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('log_uploads')
    .addColumn('format', 'text', (c) => c.notNull().defaultTo('tar.gz'))
    .execute()
  await db.schema
    .alterTable('log_uploads')
    .addColumn('streamed', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
}
