import {type Kysely, sql} from 'kysely'
import type {DialectName} from '../connect.js'

/**
 * Blob storage in the database (src/server/blobs/postgres-blob-store.ts, docs/operations.md
 * "Blob storage"), used when `storage.blobs` is "postgres" so that every node reads log bundles,
 * uploads in progress and update packages:
 *  - blobs: one row per blob, its key (`logs/bundles/<id>.tlb`, `updates/targets/<sha256>`) and
 *    committed size;
 *  - blob_chunks: its bytes as bytea rows keyed by byte position, at most 2 MiB each.
 * Created on SQLite too, so both schemas stay the same; only PostgreSQL fills them.
 */
export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const pg = dialect === 'postgres'
  await db.schema
    .createTable('blobs')
    .addColumn('id', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('key', 'text', (c) => c.notNull().unique())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('modified_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('blob_chunks')
    .addColumn('blob_id', 'bigint', (c) => c.notNull().references('blobs.id').onDelete('cascade'))
    .addColumn('pos', 'bigint', (c) => c.notNull())
    .addColumn('data', pg ? 'bytea' : 'blob', (c) => c.notNull())
    .addPrimaryKeyConstraint('blob_chunks_pk', ['blob_id', 'pos'])
    .execute()
  // Ciphertext and packages do not compress: out of line (TOAST) without trying pglz on each row.
  if (pg) await sql`ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL`.execute(db)
}
