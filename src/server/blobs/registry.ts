import type {Kysely} from 'kysely'
import {UsageError} from '../../shared/errors.js'
import type {DialectName} from '../db/connect.js'
import type {Database} from '../db/schema.js'
import type {BlobBackend, BlobStore} from './blob-store.js'
import {LocalBlobStore} from './local-blob-store.js'
import {PostgresBlobStore} from './postgres-blob-store.js'

/** What a backend may use: the local directory of this kind of blob, and the database. */
export interface BlobStoreContext {
  /** Which blobs: `logs` or `updates` (a PostgreSQL key prefix). */
  namespace: string
  /** The directory the local backend uses (logs.storageDir, updates.storageDir). */
  dir: string
  db: Kysely<Database>
  dialect: DialectName
}

/** One entry per `storage.blobs` value: nothing else branches on the backend's name. */
const BACKENDS: Record<BlobBackend, (ctx: BlobStoreContext) => BlobStore> = {
  local: (ctx) => new LocalBlobStore(ctx.dir),
  postgres(ctx) {
    if (ctx.dialect !== 'postgres') {
      throw new UsageError(`storage.blobs: "postgres" needs a PostgreSQL database (the database is ${ctx.dialect}); set storage.blobs to "local" or use --database postgres://…`, {details: {field: 'storage.blobs'}})
    }
    return new PostgresBlobStore(ctx.db, ctx.namespace)
  },
}

export function createBlobStore(backend: BlobBackend, ctx: BlobStoreContext): BlobStore {
  return BACKENDS[backend](ctx)
}
