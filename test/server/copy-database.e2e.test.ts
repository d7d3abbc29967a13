import {strict as assert} from 'node:assert'
import {randomBytes} from 'node:crypto'
import {join} from 'node:path'
import {LocalBlobStore} from '../../src/server/blobs/local-blob-store.js'
import {PostgresBlobStore} from '../../src/server/blobs/postgres-blob-store.js'
import {openDatabase} from '../../src/server/db/connect.js'
import {COPY_PLAN} from '../../src/server/db/copy-database.js'
import {runTether} from '../helpers/cli.js'
import {expectExit, json, SupportCenter} from '../agent/helpers/support-center.js'
import {createTestDatabase, type TestDatabase} from './helpers/database.js'

async function streamed(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const part of stream) parts.push(part as Buffer)
  return Buffer.concat(parts)
}

/**
 * From one node to several: a real single-node server on SQLite with local blobs, copied by
 * `tether server copy-database` into an empty PostgreSQL, then a server started on the copy.
 */
describe('tether server copy-database: one SQLite node into PostgreSQL (e2e)', function () {
  this.timeout(180_000)
  let sc: SupportCenter
  let target: TestDatabase
  const bundle = randomBytes(3 * 1024 * 1024 + 17)
  const copy = (to: string) => runTether(['server', 'copy-database', '--data-dir', join(sc.dir, 'data'), '--to', to, '--json'], {env: {...sc.env, TETHER_DATABASE_URL: undefined}})

  before(async () => {
    sc = await SupportCenter.create()
    await sc.start()
    await sc.loginAdmin()
    await sc.enrollToken('SN-COPY-1')
    // Stored bytes as the logs service leaves them (opaque, sealed): the copy never opens them.
    const logs = new LocalBlobStore(join(sc.dir, 'data', 'logs'))
    await logs.create('bundles/copied.tlb', bundle)
    target = await createTestDatabase('postgres')
  })

  after(async () => {
    await sc?.dispose()
    await target?.drop()
  })

  it('refuses while the server runs on the source, naming the node, and writes nothing', async () => {
    const r = expectExit(await copy(target.url), 6)
    assert.match(json<{error: {message: string}}>(r).error.message, /a server is running on the source database \(node [^)]+\): stop it/)
    const opened = await openDatabase(target.url)
    try {
      const tables = await opened.db.introspection.getTables()
      assert.ok(!tables.some((t) => t.name === 'users'), 'not even migrated: the check comes first')
    } finally {
      await opened.close()
    }
  })

  it('refuses a --to that is not PostgreSQL, naming the flag', async () => {
    const r = expectExit(await copy(join(sc.dir, 'other.db')), 2)
    assert.match(json<{error: {message: string}}>(r).error.message, /^--to: /)
  })

  it('copies every row and blob of the stopped server; the audit chain verifies on the copy and records the copy', async () => {
    await sc.stop()
    const r = json<{tables: Array<{table: string; rows: number}>; blobs: {blobs: number; bytes: number}; auditHead: {seq: number}; verified: {checked: number}}>(expectExit(await copy(target.url), 0))
    const rows = Object.fromEntries(r.tables.map((t) => [t.table, t.rows]))
    assert.ok(rows.users >= 1 && rows.customers === 1 && rows.devices === 1 && rows.enrollment_tokens === 1, JSON.stringify(rows))
    assert.equal(rows.audit_events, r.auditHead.seq)
    assert.equal(r.verified.checked, r.auditHead.seq)
    assert.deepEqual(r.blobs, {blobs: 1, bytes: bundle.length, skipped: 0})
    assert.deepEqual(new Set(r.tables.map((t) => t.table)), new Set(COPY_PLAN.filter((p) => p.copy).map((p) => p.table)))

    const opened = await openDatabase(target.url)
    try {
      assert.ok((await streamed(new PostgresBlobStore(opened.db, 'logs').read('bundles/copied.tlb'))).equals(bundle), 'the bundle bytes, exactly')
    } finally {
      await opened.close()
    }
  })

  it('a server started on the copy serves the same users, devices and one verified chain ending in server.database-copied', async () => {
    sc.env.TETHER_DATABASE_URL = target.url
    sc.env.TETHER_BLOB_STORAGE = 'postgres'
    // The same address: the admin's saved login (and every agent) keep pointing at it.
    await sc.start(sc.port)
    const device = await sc.device('SN-COPY-1')
    assert.equal(device.serial, 'SN-COPY-1')
    const verify = json<{ok: boolean; checked: number}>(expectExit(await sc.admin(['audit', 'verify', '--json']), 0))
    assert.equal(verify.ok, true)
    const exported = expectExit(await sc.admin(['audit', 'export', '--action', 'server.database-copied']), 0)
    const events = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as {action: string; details: {from: string}})
    assert.equal(events.length, 1)
    assert.equal(events[0].details.from, 'sqlite')
  })

  it('refuses to copy into a database that is no longer empty', async () => {
    await sc.stop()
    const r = expectExit(await copy(target.url), 6)
    assert.match(json<{error: {message: string}}>(r).error.message, /--to: the target database is not empty/)
  })
})
