import {strict as assert} from 'node:assert'
import pino from 'pino'
import {migrateToLatest, openDatabase, type OpenedDatabase} from '../../../src/server/db/connect.js'
import {PresenceWriter} from '../../../src/server/hub/presence.js'
import {createTestDatabase, DB_KINDS, type TestDatabase} from '../helpers/database.js'

for (const kind of DB_KINDS) {
  describe(`hub presence writes (${kind})`, function () {
    this.timeout(30_000)
    let database: TestDatabase
    let opened: OpenedDatabase
    const serials = Array.from({length: 1203}, (_, i) => `p-${i}`)

    before(async () => {
      database = await createTestDatabase(kind)
      opened = await openDatabase(database.url)
      await migrateToLatest(opened)
      const now = new Date().toISOString()
      await opened.db.insertInto('customers').values({id: 'c', name: 'C', created_at: now}).execute()
      for (let i = 0; i < serials.length; i += 400) {
        const rows = serials.slice(i, i + 400).map((serial) => ({serial, model: 'm', customer_id: 'c', site_id: null, labels: '{}', created_at: now, enrolled_at: now, revoked_at: null, cert_fingerprint: null, last_seen_at: null, inventory: null}))
        await opened.db.insertInto('devices').values(rows as never).execute()
      }
    })
    after(async () => {
      await opened?.close()
      await database?.drop()
    })

    it('writes many touches grouped by second (in chunks) and inventories one by one, each device its own values', async () => {
      const writer = new PresenceWriter(opened.db, pino({level: 'silent'}))
      const base = Date.parse('2026-12-01T10:00:00.000Z')
      // Three seconds of activity over 1,200 touches (more than one chunk per second), and one hello.
      serials.forEach((serial, i) => writer.record(serial, new Date(base + (i % 3) * 1000 + (i % 7))))
      writer.record('p-5', new Date(base + 5000), {serial: 'p-5', softwareVersion: '2.0.0'})
      await writer.flush()
      const rows = await opened.db.selectFrom('devices').select(['serial', 'last_seen_at', 'inventory', 'software_version']).execute()
      const bySerial = new Map(rows.map((r) => [r.serial, r]))
      serials.forEach((serial, i) => {
        if (serial === 'p-5') return
        assert.equal(bySerial.get(serial)?.last_seen_at, new Date(base + (i % 3) * 1000).toISOString(), serial)
        assert.equal(bySerial.get(serial)?.inventory, null, serial)
      })
      assert.equal(bySerial.get('p-5')?.last_seen_at, new Date(base + 5000).toISOString())
      assert.equal(bySerial.get('p-5')?.software_version, '2.0.0')
      assert.deepEqual(JSON.parse(bySerial.get('p-5')!.inventory!), {serial: 'p-5', softwareVersion: '2.0.0'})
    })
  })
}
