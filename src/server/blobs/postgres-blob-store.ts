import {Readable} from 'node:stream'
import {type Generated, type Kysely, sql} from 'kysely'
import {ConflictError, NotFoundError} from '../../shared/errors.js'
import type {Database} from '../db/schema.js'
import {type BlobStat, type BlobStore, type BlobWriter, checkKey} from './blob-store.js'

/** The tables of migration 011, typed here: nothing else in the server reads them. */
export interface BlobTables {
  blobs: {id: Generated<number>; key: string; size: number; modified_at: string}
  blob_chunks: {blob_id: number; pos: number; data: Buffer}
}

/**
 * The largest row a write makes. A sealed log segment (1 MiB + 16-byte tag) stays one row; a
 * bigger append is cut. Each row is TOASTed by PostgreSQL (stored out of line, uncompressed:
 * the bytes are ciphertext or packages that do not compress).
 */
export const MAX_CHUNK_BYTES = 2 * 1024 * 1024

type Db = Kysely<BlobTables>

/**
 * Blobs in PostgreSQL, so that every node reads what any node wrote. A blob is a `blobs` row
 * (key, committed size) and `blob_chunks` rows of bytea keyed by their byte position. Appends
 * run in one transaction each, which locks the blob row and checks the committed size: two
 * nodes can never interleave bytes, and a commit is durable (no fdatasync to do). Reads walk
 * the chunks by position one row per query (a keyset scan on the primary key), so memory stays
 * at one chunk whatever the blob's size; a range starts at the chunk that holds its first byte.
 * `namespace` keeps the logs' and updates' keys apart, as their two directories do locally.
 */
export class PostgresBlobStore implements BlobStore {
  readonly backend = 'postgres' as const
  private readonly db: Db

  constructor(
    db: Kysely<Database>,
    private readonly namespace: string,
  ) {
    // Its own tables, typed here rather than in the server-wide schema.
    this.db = db as unknown as Db
  }

  private full(key: string): string {
    return `${this.namespace}/${checkKey(key)}`
  }

  async create(key: string, initial?: Buffer): Promise<void> {
    const now = new Date().toISOString()
    await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('blobs')
        .values({key: this.full(key), size: initial?.length ?? 0, modified_at: now})
        .onConflict((oc) => oc.column('key').doNothing())
        .returning('id')
        .executeTakeFirst()
      if (!row) throw new ConflictError(`blob ${key} already exists`)
      if (initial && initial.length > 0) await trx.insertInto('blob_chunks').values({blob_id: row.id, pos: 0, data: initial}).execute()
    })
  }

  async open(key: string): Promise<BlobWriter> {
    const row = await this.db.selectFrom('blobs').select('id').where('key', '=', this.full(key)).executeTakeFirst()
    if (!row) throw new NotFoundError(`no blob ${key}`)
    return new PostgresBlobWriter(this.db, key, Number(row.id))
  }

  async stat(key: string): Promise<BlobStat | undefined> {
    const row = await this.db.selectFrom('blobs').select(['size', 'modified_at']).where('key', '=', this.full(key)).executeTakeFirst()
    return row ? {key, size: Number(row.size), modifiedAt: new Date(row.modified_at)} : undefined
  }

  read(key: string, range: {start?: number; end?: number} = {}): Readable {
    const {db} = this
    const full = this.full(key)
    async function* pieces(): AsyncGenerator<Buffer> {
      const row = await db.selectFrom('blobs').select(['id', 'size']).where('key', '=', full).executeTakeFirst()
      if (!row) throw new NotFoundError(`no blob ${key}`)
      const end = Math.min(range.end ?? Number.MAX_SAFE_INTEGER, Number(row.size) - 1)
      yield* chunksOf(db, Number(row.id), range.start ?? 0, end)
    }
    return Readable.from(pieces(), {objectMode: false, highWaterMark: 1})
  }

  async rename(from: string, to: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      if (this.full(from) === this.full(to)) return
      await trx.deleteFrom('blobs').where('key', '=', this.full(to)).execute()
      const moved = await trx.updateTable('blobs').set({key: this.full(to), modified_at: new Date().toISOString()}).where('key', '=', this.full(from)).executeTakeFirst()
      if (Number(moved.numUpdatedRows) === 0) throw new NotFoundError(`no blob ${from}`)
    })
  }

  async delete(key: string): Promise<void> {
    // The chunks go with it (ON DELETE CASCADE).
    await this.db.deleteFrom('blobs').where('key', '=', this.full(key)).execute()
  }

  async *list(prefix: string): AsyncIterable<BlobStat> {
    const start = this.full(prefix.replace(/\/$/, '')) + '/'
    const like = start.replaceAll('\\', '\\\\').replaceAll('%', '\\%').replaceAll('_', '\\_') + '%'
    const rows = await this.db.selectFrom('blobs').select(['key', 'size', 'modified_at']).where('key', 'like', like).orderBy('key').execute()
    for (const row of rows) yield {key: row.key.slice(this.namespace.length + 1), size: Number(row.size), modifiedAt: new Date(row.modified_at)}
  }
}

/**
 * Bytes read per query. A chunk is up to 2 MiB; handing it out whole kept 2 MiB per open stream
 * in the server (hundreds of devices downloading one package from PostgreSQL would hold
 * gigabytes). The chunks are stored uncompressed out of line (STORAGE EXTERNAL), so PostgreSQL
 * fetches only the TOAST pieces a substring covers.
 */
export const READ_SLICE_BYTES = 256 * 1024

/**
 * Bytes `start`..`end` (inclusive) of a blob, at most READ_SLICE_BYTES per query. A chunk missing
 * or shorter on the way means the blob was deleted or cut while being read: an error, never a
 * short success.
 */
async function* chunksOf(db: Db, blobId: number, start: number, end: number): AsyncGenerator<Buffer> {
  if (end < start) return
  const chunk = (where: 'holding' | 'after', at: number) =>
    db
      .selectFrom('blob_chunks')
      .select(['pos', sql<number>`octet_length(data)`.as('length')])
      .where('blob_id', '=', blobId)
      .where('pos', where === 'holding' ? '<=' : '>', at)
      .orderBy('pos', where === 'holding' ? 'desc' : 'asc')
      .limit(1)
      .executeTakeFirst()
  // The chunk holding byte `start`: the last one that begins at or before it.
  let row = await chunk('holding', start)
  let at = start
  while (at <= end) {
    const pos = Number(row?.pos)
    const length = Number(row?.length)
    if (!row || pos > at || pos + length <= at) throw new Error(`blob ${blobId} changed while being read (no bytes at ${at})`)
    const upTo = Math.min(pos + length, end + 1, at + READ_SLICE_BYTES)
    const slice = await db
      .selectFrom('blob_chunks')
      .select(sql<Buffer>`substring(data from ${at - pos + 1} for ${upTo - at})`.as('data'))
      .where('blob_id', '=', blobId)
      .where('pos', '=', pos)
      .executeTakeFirst()
    if (!slice || slice.data.length !== upTo - at) throw new Error(`blob ${blobId} changed while being read (no bytes at ${at})`)
    at = upTo
    yield slice.data
    if (at > end) return
    if (at >= pos + length) row = await chunk('after', pos)
  }
}

/** Appends and cuts, each one transaction under the blob row's lock. */
class PostgresBlobWriter implements BlobWriter {
  /** The blob's end after this writer's last append: rollback cuts only its own bytes. */
  private appendedTo: number | undefined

  constructor(
    private readonly db: Db,
    readonly key: string,
    private readonly id: number,
  ) {}

  async length(): Promise<number> {
    const row = await this.db.selectFrom('blobs').select('size').where('id', '=', this.id).executeTakeFirst()
    if (!row) throw new NotFoundError(`no blob ${this.key}`)
    return Number(row.size)
  }

  async readAt(position: number, length: number): Promise<Buffer> {
    const size = await this.length()
    const parts: Buffer[] = []
    for await (const piece of chunksOf(this.db, this.id, position, Math.min(size, position + length) - 1)) parts.push(piece)
    return Buffer.concat(parts)
  }

  async append(parts: Buffer[], at: number): Promise<void> {
    const bytes = parts.reduce((n, p) => n + p.length, 0)
    if (bytes === 0) return
    await this.db.transaction().execute(async (trx) => {
      await this.lockAt(trx, at)
      const whole = parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes)
      for (let off = 0; off < bytes; off += MAX_CHUNK_BYTES) {
        await trx.insertInto('blob_chunks').values({blob_id: this.id, pos: at + off, data: whole.subarray(off, off + MAX_CHUNK_BYTES)}).execute()
      }
      await trx.updateTable('blobs').set({size: at + bytes, modified_at: new Date().toISOString()}).where('id', '=', this.id).execute()
    })
    this.appendedTo = at + bytes
  }

  async truncate(length: number): Promise<void> {
    await this.cut(length)
  }

  async rollback(length: number): Promise<void> {
    // Appends are whole: a writer that never appended has nothing to undo.
    if (this.appendedTo === undefined) return
    await this.cut(length, this.appendedTo)
  }

  private async cut(length: number, ifSize?: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const size = await this.lockAt(trx, ifSize)
      if (length >= size) return
      await trx.deleteFrom('blob_chunks').where('blob_id', '=', this.id).where('pos', '>=', length).execute()
      // The chunk that straddles the new end keeps its head.
      await sql`UPDATE blob_chunks SET data = substring(data FROM 1 FOR (${length}::bigint - pos)::integer) WHERE blob_id = ${this.id} AND pos < ${length} AND pos + octet_length(data) > ${length}`.execute(trx)
      await trx.updateTable('blobs').set({size: length, modified_at: new Date().toISOString()}).where('id', '=', this.id).execute()
    })
  }

  /** Locks the blob row for this transaction; with `at`, checks that it is the committed size. */
  private async lockAt(trx: Db, at?: number): Promise<number> {
    const row = await trx.selectFrom('blobs').select('size').where('id', '=', this.id).forUpdate().executeTakeFirst()
    if (!row) throw new NotFoundError(`no blob ${this.key}`)
    const size = Number(row.size)
    if (at !== undefined && size !== at) throw new ConflictError(`blob ${this.key} is ${size} bytes long, not ${at}: another writer appended`)
    return size
  }

  // Committed transactions are durable: nothing left to push.
  async flush(): Promise<void> {}

  async sync(): Promise<void> {}

  async close(): Promise<void> {}
}
