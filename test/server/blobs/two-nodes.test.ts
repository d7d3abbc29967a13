import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {Readable} from 'node:stream'
import type {CompletionListener} from '../../../src/server/logs/upload-store.js'
import {buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {readBlob} from '../helpers/blobs.js'
import {createTestDatabase, DB_KINDS, type TestDatabase} from '../helpers/database.js'

const MiB = 1024 * 1024
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const owner = {serial: 'SN-2N', customerId: 'acme'}

/**
 * Two server apps on one PostgreSQL database with `storage.blobs: postgres`, each with its own
 * data dir (nothing shared on disk but the logs master key, which every node needs): an upload
 * begun on node 1 is resumed on node 2 from the offset node 2 reports, and the finished bundle
 * is pulled, decrypted and verified through node 1. Node 1 never sees the second half arrive.
 */
;(DB_KINDS.includes('postgres') ? describe : describe.skip)('two nodes, PostgreSQL blobs: an upload moves between nodes', function () {
  this.timeout(120_000)
  let database: TestDatabase
  let node1: TestApp
  let node2: TestApp
  const noop: CompletionListener = (_upload, markComplete) => markComplete(node2.app.db)

  before(async () => {
    database = await createTestDatabase('postgres')
    node1 = await buildTestApp('postgres', {database, config: (c) => (c.storage.blobs = 'postgres')})
    node2 = await buildTestApp('postgres', {
      database,
      config: (c) => {
        c.storage.blobs = 'postgres'
        c.logs.masterKeyFile = node1.config.logs.masterKeyFile
      },
    })
    await seedUser(node1.app, {username: 'root', role: 'admin'})
    const root = (await sessionFor(node1.app, 'root')).accessToken
    assert.equal((await call(node1.app, 'POST', '/customers', {token: root, body: {id: 'acme', name: 'ACME'}})).statusCode, 201)
    assert.equal((await call(node1.app, 'POST', '/devices', {token: root, body: {serial: owner.serial, model: 'A', customer: 'acme'}})).statusCode, 201)
  })
  after(async () => {
    await node2?.close()
    await node1?.close()
    await database?.drop()
  })

  it('starts on node 1, resumes on node 2, is pulled byte-identical from node 1', async () => {
    const data = randomBytes(3 * MiB + 4321)
    const created = await node1.app.logs.uploads.create(owner, {size: data.length, sha256: sha(data), format: 'tar.zst', initiator: 'device', requestedBy: null})
    // Node 1 receives 1.5 MiB, then the connection breaks: one whole segment is kept.
    const broken = Readable.from(
      (async function* () {
        yield data.subarray(0, MiB + MiB / 2)
        throw new Error('connection reset (node 1 went away)')
      })(),
    )
    await assert.rejects(node1.app.logs.uploads.write(owner, created.uploadId, 0, broken, noop), /connection reset/)
    // The agent reconnects through the balancer and lands on node 2: it asks where to go on.
    const state = await node2.app.logs.uploads.get(owner, created.uploadId)
    assert.deepEqual({offset: state.offset, status: state.status}, {offset: MiB, status: 'open'})
    const done = await node2.app.logs.uploads.write(owner, created.uploadId, state.offset, Readable.from([data.subarray(state.offset)]), noop, data.length - state.offset)
    assert.deepEqual({offset: done.offset, status: done.status, bundleId: done.bundleId}, {offset: data.length, status: 'complete', bundleId: created.uploadId})

    const token = (await sessionFor(node1.app, 'root')).accessToken
    const pulled = await call(node1.app, 'GET', `/logs/${created.uploadId}/content`, {token})
    assert.equal(pulled.statusCode, 200, pulled.body)
    assert.equal(pulled.headers['content-type'], 'application/zstd')
    assert.equal(sha(pulled.rawPayload), sha(data))
    assert.ok(pulled.rawPayload.equals(data))
    // Encrypted at rest exactly as in a file: the stored bytes hold no plaintext run.
    const row = await node1.app.db.selectFrom('log_uploads').select('file').where('id', '=', created.uploadId).executeTakeFirstOrThrow()
    const stored = await readBlob(node1.app.logs.blobs, row.file)
    assert.equal(stored.subarray(0, 4).toString(), 'TLB1')
    assert.equal(stored.indexOf(data.subarray(MiB, MiB + 64)), -1)
  })

  it('an update package received on node 1 is served by node 2', async () => {
    const bytes = randomBytes(MiB + 17)
    const pkg = {path: 'fw-2.0.bin', length: bytes.length, hashes: {sha256: sha(bytes)}}
    await node1.app.updates.packages.receive(pkg, Readable.from([bytes]))
    assert.equal(await node2.app.updates.packages.has(pkg), true)
    const blob = node2.app.updates.packages.blobOf(pkg)
    assert.ok((await readBlob(node1.app.logs.blobs, blob).catch((error: Error & {code?: string}) => error.code)) === 'NOT_FOUND', 'logs and updates keys are apart')
    const parts: Buffer[] = []
    for await (const p of node2.app.updates.packages.read(blob, {start: 100, end: bytes.length - 1})) parts.push(p as Buffer)
    assert.ok(Buffer.concat(parts).equals(bytes.subarray(100)))
  })
})
