import {Readable} from 'node:stream'
import {type BlobBackend, type BlobStore, writeBlob} from '../../../src/server/blobs/blob-store.js'
import {DB_KINDS, type DbKind} from './database.js'

/** Every database with every blob backend it allows: PostgreSQL blobs need PostgreSQL. */
export interface BlobVariant {
  kind: DbKind
  blobs: BlobBackend
}
export const BLOB_VARIANTS: BlobVariant[] = DB_KINDS.flatMap((kind): BlobVariant[] =>
  kind === 'postgres' ? [{kind, blobs: 'local'}, {kind, blobs: 'postgres'}] : [{kind, blobs: 'local'}],
)

/** A whole blob (small ones only: tests). */
export async function readBlob(store: BlobStore, key: string, range?: {start?: number; end?: number}): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const piece of store.read(key, range)) parts.push(piece as Buffer)
  return Buffer.concat(parts)
}

/** Replaces a blob's bytes, as someone with write access to the storage could. */
export async function replaceBlob(store: BlobStore, key: string, bytes: Buffer): Promise<void> {
  await store.delete(key)
  await writeBlob(store, key, Readable.from([bytes]))
}
