import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {type BlobStore, writeBlob} from '../../../src/server/blobs/blob-store.js'
import {LocalBlobStore} from '../../../src/server/blobs/local-blob-store.js'
import {MAX_CHUNK_BYTES, PostgresBlobStore, READ_SLICE_BYTES} from '../../../src/server/blobs/postgres-blob-store.js'
import {createBlobStore} from '../../../src/server/blobs/registry.js'
import {migrateToLatest, type OpenedDatabase, openDatabase} from '../../../src/server/db/connect.js'
import {readBlob} from '../helpers/blobs.js'
import {createTestDatabase, DB_KINDS, type TestDatabase} from '../helpers/database.js'
import {liveBytes} from '../../helpers/live-memory.js'

const MiB = 1024 * 1024

interface Backend {
  name: string
  /** A store, and a second one over the same storage (another node / a restarted server). */
  open(): Promise<{store: BlobStore; twin: BlobStore; close(): Promise<void>}>
}

const BACKENDS: Backend[] = [
  {
    name: 'LocalBlobStore',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'tether-blobs-'))
      return {store: new LocalBlobStore(dir), twin: new LocalBlobStore(dir), close: () => rm(dir, {recursive: true, force: true})}
    },
  },
]
if (DB_KINDS.includes('postgres')) {
  BACKENDS.push({
    name: 'PostgresBlobStore',
    async open() {
      const database = await createTestDatabase('postgres')
      const first = await openDatabase(database.url)
      await migrateToLatest(first)
      // Two pools, as two nodes have.
      const second = await openDatabase(database.url)
      return {
        store: new PostgresBlobStore(first.db, 'logs'),
        twin: new PostgresBlobStore(second.db, 'logs'),
        async close() {
          await first.close()
          await second.close()
          await database.drop()
        },
      }
    },
  })
}

const code = (name: string) => (error: Error & {code?: string}) => error.code === name

for (const backend of BACKENDS) {
  describe(`blob store contract: ${backend.name}`, function () {
    this.timeout(120_000)
    let store: BlobStore
    let twin: BlobStore
    let close: () => Promise<void>
    before(async () => {
      ;({store, twin, close} = await backend.open())
    })
    after(async () => close?.())

    it('creates with initial bytes, appends at the committed length only, and reads it back', async () => {
      await store.create('uploads/a.tlb', Buffer.from('head'))
      await assert.rejects(store.create('uploads/a.tlb'), code('CONFLICT'))
      const w = await store.open('uploads/a.tlb')
      try {
        assert.equal(await w.length(), 4)
        await w.append([Buffer.from('one'), Buffer.from('-two')], 4)
        await assert.rejects(w.append([Buffer.from('x')], 4), code('CONFLICT'))
        assert.equal(await w.length(), 11)
        assert.equal((await w.readAt(4, 3)).toString(), 'one')
        assert.equal((await w.readAt(9, 100)).toString(), 'wo')
      } finally {
        await w.close()
      }
      assert.equal((await readBlob(store, 'uploads/a.tlb')).toString(), 'headone-two')
      assert.equal((await store.stat('uploads/a.tlb'))?.size, 11)
    })

    it('resumes through another instance (another node) at the committed length, and cuts a tail', async () => {
      await store.create('uploads/r.tlb')
      const parts = [randomBytes(1000), randomBytes(MAX_CHUNK_BYTES + 77), randomBytes(5000)]
      const a = await store.open('uploads/r.tlb')
      await a.append([parts[0]], 0)
      await a.close()
      const b = await twin.open('uploads/r.tlb')
      const at = await b.length()
      assert.equal(at, 1000)
      await b.append([parts[1]], at)
      await b.append([parts[2]], at + parts[1].length)
      // A torn tail cut mid-chunk, then written again.
      await b.truncate(at + parts[1].length + 10)
      assert.equal(await b.length(), at + parts[1].length + 10)
      await b.append([parts[2].subarray(10)], at + parts[1].length + 10)
      await b.sync()
      await b.close()
      assert.deepEqual(await readBlob(store, 'uploads/r.tlb'), Buffer.concat(parts))
    })

    it('reads ranges that start and end inside chunks and across chunk edges', async () => {
      const data = randomBytes(3 * MAX_CHUNK_BYTES + 999)
      await writeBlob(store, 'bundles/range.tlb', Readable.from([data]), MAX_CHUNK_BYTES)
      for (const [start, end] of [[0, 0], [5, 17], [MAX_CHUNK_BYTES - 3, MAX_CHUNK_BYTES + 3], [MAX_CHUNK_BYTES, 2 * MAX_CHUNK_BYTES - 1], [2 * MAX_CHUNK_BYTES + 1, data.length - 1], [data.length - 1, data.length + 50]]) {
        assert.deepEqual(await readBlob(store, 'bundles/range.tlb', {start, end}), data.subarray(start, end + 1), `${start}-${end}`)
      }
      assert.deepEqual(await readBlob(store, 'bundles/range.tlb', {start: 12345}), data.subarray(12345))
      assert.equal((await readBlob(store, 'bundles/range.tlb', {start: data.length})).length, 0)
    })

    it('hands a read out in pieces of at most 256 KiB, whatever the chunk size (memory per open download)', async () => {
      const data = randomBytes(5 * MiB + 3)
      await writeBlob(store, 'bundles/pieces.tlb', Readable.from([data]), MAX_CHUNK_BYTES)
      let largest = 0
      const parts: Buffer[] = []
      for await (const piece of store.read('bundles/pieces.tlb', {start: 1000})) {
        largest = Math.max(largest, (piece as Buffer).length)
        parts.push(piece as Buffer)
      }
      assert.ok(largest <= READ_SLICE_BYTES, `a piece of ${largest} bytes`)
      assert.ok(Buffer.concat(parts).equals(data.subarray(1000)))
    })

    it('renames over an existing blob, deletes idempotently, lists one folder, and reports missing blobs', async () => {
      await writeBlob(store, 'tmp/p1.part', Readable.from([Buffer.from('new')]))
      await writeBlob(store, 'targets/abc', Readable.from([Buffer.from('old bytes')]))
      await store.rename('tmp/p1.part', 'targets/abc')
      assert.equal((await readBlob(store, 'targets/abc')).toString(), 'new')
      assert.equal(await store.stat('tmp/p1.part'), undefined)
      await assert.rejects(store.rename('tmp/p1.part', 'targets/x'), code('NOT_FOUND'))
      await writeBlob(store, 'tmp/p2.part', Readable.from([Buffer.from('22')]))
      const listed: string[] = []
      for await (const s of store.list('tmp/')) listed.push(`${s.key}:${s.size}`)
      assert.deepEqual(listed, ['tmp/p2.part:2'])
      await store.delete('tmp/p2.part')
      await store.delete('tmp/p2.part')
      await assert.rejects(store.open('tmp/p2.part'), code('NOT_FOUND'))
      await assert.rejects(readBlob(store, 'tmp/p2.part'), code('NOT_FOUND'))
      await assert.rejects(store.create('../escape'), code('USAGE'))
    })

    if (backend.name === 'PostgresBlobStore') {
      it('a broken-off request on one node cannot cut what another node appended since (rollback)', async () => {
        await store.create('uploads/race.tlb', Buffer.from('H'))
        const nodeA = await store.open('uploads/race.tlb')
        await nodeA.append([Buffer.from('aa')], 1)
        const nodeB = await twin.open('uploads/race.tlb')
        await nodeB.append([Buffer.from('bb')], 3)
        await assert.rejects(nodeA.rollback(1), code('CONFLICT'))
        assert.equal((await readBlob(store, 'uploads/race.tlb')).toString(), 'Haabb')
        await nodeB.rollback(3)
        assert.equal((await readBlob(store, 'uploads/race.tlb')).toString(), 'Haa')
      })
    }

    it('streams a 64 MB blob in and out (whole and from an offset) with bounded memory', async () => {
      const size = 64 * MiB
      // Deterministic content, made piece by piece: never the whole blob in this process either.
      const piece = (i: number) => Buffer.alloc(MiB, createHash('sha512').update(String(i)).digest())
      const source = async function* () {
        for (let i = 0; i < size / MiB; i++) yield piece(i)
      }
      const expected = createHash('sha256')
      for await (const p of source()) expected.update(p)
      const started = Date.now()
      // What the store holds while streaming, sampled once per MiB that passes (a full
      // collection each time): bounded means a few chunks, never the blob.
      const baseline = liveBytes()
      let peak = baseline
      let unsampled = 0
      const sample = (passed = MiB) => {
        unsampled += passed
        if (unsampled < MiB) return
        unsampled = 0
        peak = Math.max(peak, liveBytes())
      }
      const sampled = async function* () {
        for await (const p of source()) {
          sample()
          yield p
        }
      }
      assert.equal(await writeBlob(store, 'bundles/big.tlb', sampled()), size)
      const got = createHash('sha256')
      let bytes = 0
      for await (const p of twin.read('bundles/big.tlb')) {
        got.update(p as Buffer)
        bytes += (p as Buffer).length
        sample((p as Buffer).length)
      }
      assert.equal(bytes, size)
      assert.equal(got.digest('hex'), expected.digest('hex'))
      // From an offset deep inside: starts at the right chunk, not at the beginning.
      const start = 40 * MiB + 123
      const tail = createHash('sha256')
      for await (const p of store.read('bundles/big.tlb', {start, end: start + 3 * MiB - 1})) {
        tail.update(p as Buffer)
        sample((p as Buffer).length)
      }
      const want = createHash('sha256')
      const i = Math.floor(start / MiB)
      want.update(Buffer.concat([piece(i), piece(i + 1), piece(i + 2), piece(i + 3)]).subarray(start - i * MiB, start - i * MiB + 3 * MiB))
      assert.equal(tail.digest('hex'), want.digest('hex'))
      const growth = peak - baseline
      console.log(`      ${backend.name}: live memory growth while streaming 64 MB in and out: ${(growth / MiB).toFixed(1)} MiB (${Date.now() - started} ms)`)
      assert.ok(growth < 16 * MiB, `live memory grew by ${(growth / MiB).toFixed(1)} MiB streaming 64 MiB`)
    })
  })
}

describe('blob store selection (storage.blobs)', () => {
  let db: OpenedDatabase
  let database: TestDatabase
  before(async () => {
    database = await createTestDatabase('sqlite')
    db = await openDatabase(database.url)
  })
  after(async () => {
    await db?.close()
    await database?.drop()
  })

  it('refuses PostgreSQL blobs on a SQLite database with a one-line error naming the setting', () => {
    assert.throws(
      () => createBlobStore('postgres', {namespace: 'logs', dir: '/nonexistent', db: db.db, dialect: db.dialect}),
      (error: Error & {code?: string}) => error.code === 'USAGE' && /^storage\.blobs: "postgres" needs a PostgreSQL database/.test(error.message) && !error.message.includes('\n'),
    )
    assert.ok(createBlobStore('local', {namespace: 'logs', dir: '/nonexistent', db: db.db, dialect: db.dialect}) instanceof LocalBlobStore)
  })
})
