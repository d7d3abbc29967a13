import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {Readable} from 'node:stream'
import {findBundle, readBundle} from '../../../src/server/logs/bundles.js'
import {loadKeyring} from '../../../src/server/logs/keys.js'
import {rotateLogsKey} from '../../../src/server/logs/rotate.js'
import {type CompletionListener, UploadStore} from '../../../src/server/logs/upload-store.js'
import {UNSCOPED} from '../../../src/server/auth/scope.js'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {BLOB_VARIANTS, readBlob, replaceBlob} from '../helpers/blobs.js'

const SEG = 1024
const owner = {serial: 'SN-1', customerId: 'acme'}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** A body that delivers `data` in pieces, then fails (a killed agent / cut connection). */
function breaking(data: Buffer): Readable {
  return Readable.from(
    (async function* () {
      yield data.subarray(0, 700)
      yield data.subarray(700)
      throw new Error('connection reset')
    })(),
  )
}

for (const {kind, blobs} of BLOB_VARIANTS) {
  describe(`log uploads, storage, rotation, retention (${kind}, ${blobs} blobs)`, () => {
    let t: TestApp
    let store: UploadStore
    const keyring = () => loadKeyring(t.config.logs.masterKeyFile, {})
    const settings = {region: 'eu', retentionDays: 90}
    /** Completes without an audit event: these tests look at the store alone. */
    const noop: CompletionListener = (_upload, markComplete) => markComplete(t.app.db)

    before(async () => {
      t = await buildTestApp(kind, {config: (c) => (c.storage.blobs = blobs)})
      await seedUser(t.app, {username: 'root', role: 'admin'})
      const root = (await sessionFor(t.app, 'root')).accessToken
      assert.equal((await call(t.app, 'POST', '/customers', {token: root, body: {id: 'acme', name: 'ACME'}})).statusCode, 201)
      assert.equal((await call(t.app, 'POST', '/devices', {token: root, body: {serial: 'SN-1', model: 'A', customer: 'acme'}})).statusCode, 201)
      store = new UploadStore(t.app.db, keyring, t.app.logs.blobs, settings, SEG)
    })
    after(async () => t?.close())

    it('commits whole segments only, resumes after an interrupted chunk, and verifies the SHA-256', async () => {
      const data = randomBytes(SEG * 4 + 300)
      const up = await store.create(owner, {size: data.length, sha256: sha(data), initiator: 'device', requestedBy: null})
      // 1.5 segments: the half segment is dropped, the agent resends it.
      let state = await store.write(owner, up.uploadId, 0, Readable.from([data.subarray(0, SEG + SEG / 2)]), noop)
      assert.equal(state.offset, SEG)
      await assert.rejects(store.write(owner, up.uploadId, 0, Readable.from([data]), noop), (e: Error & {code?: string}) => e.code === 'OFFSET_MISMATCH')
      // Broken mid-chunk after 2.5 more segments: two of them stay committed.
      await assert.rejects(store.write(owner, up.uploadId, SEG, breaking(data.subarray(SEG, SEG + 2 * SEG + 500)), noop), /connection reset/)
      assert.equal((await store.get(owner, up.uploadId)).offset, 3 * SEG)
      // A "restarted server" (fresh store, no running hash) finishes and hashes from disk.
      const restarted = new UploadStore(t.app.db, keyring, t.app.logs.blobs, settings, SEG)
      let completed = 0
      state = await restarted.write(owner, up.uploadId, 3 * SEG, Readable.from([data.subarray(3 * SEG)]), async (upload, markComplete) => {
        completed++
        await noop(upload, markComplete)
      })
      assert.equal(completed, 1)
      assert.deepEqual({offset: state.offset, status: state.status, bundleId: state.bundleId}, {offset: data.length, status: 'complete', bundleId: up.uploadId})
      const row = await findBundle(t.app.db, UNSCOPED, up.uploadId)
      const out: Buffer[] = []
      for await (const chunk of readBundle(t.app.logs.blobs, await keyring(), row)) out.push(chunk)
      assert.deepEqual(Buffer.concat(out), data)
      assert.equal(row.region, 'eu')
      // Another device's upload is invisible.
      await assert.rejects(store.get({serial: 'SN-2', customerId: 'acme'}, up.uploadId), /no upload/)
    })

    it('discards an upload whose SHA-256 does not match', async () => {
      const data = randomBytes(SEG * 2)
      const up = await store.create(owner, {size: data.length, sha256: sha(randomBytes(8)), initiator: 'device', requestedBy: null})
      await assert.rejects(store.write(owner, up.uploadId, 0, Readable.from([data]), noop), (e: Error & {code?: string}) => e.code === 'CHECKSUM_MISMATCH')
      await assert.rejects(store.get(owner, up.uploadId), /no upload/)
    })

    it('refuses bytes past the declared size and keeps none of the chunk', async () => {
      // A short last segment: the rollback once computed a fractional file length (RangeError, a 500).
      for (const data of [randomBytes(SEG), randomBytes(2 * SEG + 300)]) {
        const up = await store.create(owner, {size: data.length, sha256: sha(data), initiator: 'device', requestedBy: null})
        await assert.rejects(store.write(owner, up.uploadId, 0, Readable.from([data, Buffer.from('x')]), noop), /^UsageError: chunk from byte 0 runs past the declared size/)
        assert.equal((await store.get(owner, up.uploadId)).offset, 0)
        await assert.rejects(store.write(owner, up.uploadId, 0, Readable.from([data]), noop, data.length + 1), {code: 'USAGE', message: `chunk ends at byte ${data.length + 1}, past the declared size ${data.length}`})
        assert.equal((await store.write(owner, up.uploadId, 0, Readable.from([data]), noop, data.length)).status, 'complete')
      }
    })

    it('rotates the master key by re-wrapping data keys without touching bundle files', async () => {
      const data = randomBytes(SEG * 3)
      const up = await store.create(owner, {size: data.length, sha256: sha(data), initiator: 'device', requestedBy: null})
      await store.write(owner, up.uploadId, 0, Readable.from([data]), noop)
      // And one left open: its data key is re-wrapped too.
      await store.create(owner, {size: data.length, sha256: sha(data), initiator: 'device', requestedBy: null})
      const bundles = await t.app.db.selectFrom('log_uploads').selectAll().where('status', '=', 'complete').execute()
      const before = new Map(await Promise.all(bundles.map(async (b) => [b.id, sha(await readBlob(t.app.logs.blobs, b.file))] as const)))
      const oldKey = (await keyring()).current.id
      const rows0 = await t.app.db.selectFrom('log_uploads').select('id').execute()
      assert.ok(rows0.length > bundles.length)
      const result = await rotateLogsKey(t.app.db, t.app.audit, t.config.logs.masterKeyFile, {})
      assert.equal(result.previousKeyId, oldKey)
      assert.notEqual(result.newKeyId, oldKey)
      // Open uploads' data keys are re-wrapped too.
      const rows = await t.app.db.selectFrom('log_uploads').select('id').execute()
      assert.equal(result.rewrapped, rows.length)
      assert.deepEqual(result.retired, [oldKey])
      const after = await t.app.db.selectFrom('log_uploads').selectAll().where('status', '=', 'complete').execute()
      for (const b of after) {
        assert.equal(b.key_id, result.newKeyId)
        assert.equal(sha(await readBlob(t.app.logs.blobs, b.file)), before.get(b.id), 'bundle file unchanged')
      }
      const ring = await keyring()
      assert.equal(ring.byId.has(oldKey), false, 'old key retired')
      const row = await findBundle(t.app.db, UNSCOPED, up.uploadId)
      const out: Buffer[] = []
      for await (const chunk of readBundle(t.app.logs.blobs, ring, row)) out.push(chunk)
      assert.deepEqual(Buffer.concat(out), data)
    })

    it('deletes bundles past retention and audits each deletion', async () => {
      const data = randomBytes(100)
      const up = await store.create(owner, {size: data.length, sha256: sha(data), initiator: 'device', requestedBy: null})
      await store.write(owner, up.uploadId, 0, Readable.from([data]), noop)
      await t.app.db.updateTable('log_uploads').set({completed_at: '2020-01-01T00:00:00.000Z'}).where('id', '=', up.uploadId).execute()
      const result = await t.app.logs.sweep()
      assert.equal(result.deleted, 1)
      await assert.rejects(findBundle(t.app.db, UNSCOPED, up.uploadId), /no log bundle/)
      const events = await auditEvents(t.app, 'logs.bundle.deleted')
      assert.equal(events.length, 1)
      assert.equal(JSON.parse(events[0].details).reason, 'retention')
      assert.equal(JSON.parse(events[0].details).bundleId, up.uploadId)
    })

    it('serves a tampered bundle as an error, audited, with no body', async () => {
      const data = randomBytes(SEG * 2)
      const up = await t.app.logs.uploads.create(owner, {size: data.length, sha256: sha(data), initiator: 'device', requestedBy: null})
      await t.app.logs.uploads.write(owner, up.uploadId, 0, Readable.from([data]), noop)
      const row = await findBundle(t.app.db, UNSCOPED, up.uploadId)
      const raw = await readBlob(t.app.logs.blobs, row.file)
      raw[40] ^= 0xff
      await replaceBlob(t.app.logs.blobs, row.file, raw)
      const root = (await sessionFor(t.app, 'root')).accessToken
      const res = await call(t.app, 'GET', `/logs/${up.uploadId}/content`, {token: root})
      assert.equal(res.statusCode, 500)
      assert.equal(res.json().error.code, 'BUNDLE_TAMPERED')
      const events = await auditEvents(t.app, 'logs.bundle.downloaded')
      assert.equal(events.at(-1)?.outcome, 'failure')
    })
  })
}
