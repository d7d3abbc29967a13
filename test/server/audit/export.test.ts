import {strict as assert} from 'node:assert'
import {text} from 'node:stream/consumers'
import {parse} from 'csv-parse/sync'
import {AuditChain} from '../../../src/server/audit/chain.js'
import {csvField} from '../../../src/shared/csv.js'
import {normalizeFilter} from '../../../src/server/audit/query.js'
import type {AuditInput} from '../../../src/server/audit/types.js'
import {AuditEventView} from '../../../src/protocol/api/audit.js'
import {UsageError} from '../../../src/shared/errors.js'
import {DIALECTS, type TestDatabase, freshDatabase} from './databases.js'

const exporter: AuditInput = {actorType: 'user', actor: 'auditor1', action: 'audit.export', outcome: 'success', sourceIp: '127.0.0.1'}

describe('audit filters', () => {
  it('normalises times and names the bad field', () => {
    assert.deepEqual(normalizeFilter({since: '2026-11-01', until: '2026-11-02T01:00:00+01:00', action: 'auth.*'}), {
      scope: undefined,
      since: '2026-11-01T00:00:00.000Z',
      until: '2026-11-02T00:00:00.000Z',
      action: 'auth.*',
    })
    assert.throws(() => normalizeFilter({since: 'yesterday'}), (e: UsageError) => e instanceof UsageError && e.details?.field === 'since')
    assert.throws(() => normalizeFilter({since: '2026-11-02', until: '2026-11-01'}), /until/)
    assert.throws(() => normalizeFilter({user: ''}), /user/)
  })

  it('quotes CSV fields per RFC 4180', () => {
    assert.equal(csvField('plain'), 'plain')
    assert.equal(csvField('a,b'), '"a,b"')
    assert.equal(csvField('say "hi"'), '"say ""hi"""')
    assert.equal(csvField('two\r\nlines'), '"two\r\nlines"')
    assert.equal(csvField(null), '')
    assert.equal(csvField(7), '7')
  })
})

for (const dialect of DIALECTS) {
  describe(`audit export (${dialect})`, function () {
    let t: TestDatabase
    let chain: AuditChain

    before(async () => {
      t = await freshDatabase(dialect)
      chain = new AuditChain(t.opened.db, t.opened.dialect)
      await t.opened.db.insertInto('customers').values([{id: 'acme', name: 'Acme', created_at: '2026-01-01T00:00:00.000Z'}]).execute()
      await t.opened.db.insertInto('sites').values({id: 'north', customer_id: 'acme', name: 'North', created_at: '2026-01-01T00:00:00.000Z'}).execute()
      await t.opened.db
        .insertInto('devices')
        .values([
          {serial: 'SN-1', model: 'm', customer_id: 'acme', site_id: 'north', labels: '{}', created_at: '2026-01-01T00:00:00.000Z'},
          {serial: 'SN-2', model: 'm', customer_id: 'acme', site_id: null, labels: '{}', created_at: '2026-01-01T00:00:00.000Z'},
        ])
        .execute()
      // 12 events: tricky text for CSV/JSON, three actors, two customers and one without.
      const inputs: AuditInput[] = Array.from({length: 12}, (_, i) => ({
        actorType: i % 4 === 3 ? 'device' : 'user',
        actor: ['alice', 'bob', 'carol', 'SN-1'][i % 4],
        action: i % 2 === 0 ? 'tunnel.open' : 'auth.login',
        outcome: i === 5 ? 'denied' : 'success',
        deviceSerial: i % 3 === 0 ? 'SN-1' : i % 3 === 1 ? 'SN-2' : null,
        customerId: i % 3 === 2 ? null : i < 9 ? 'acme' : 'globex',
        sourceIp: i % 2 ? '::1' : '127.0.0.1',
        details: {i, text: 'comma, "quote"\nnewline ünï', nested: {b: [1, 2.5, null], a: true}},
      }))
      for (const input of inputs) await chain.append(input)
    })
    after(async () => {
      await chain?.flush()
      await t?.cleanup()
    })

    const all = async () => (await chain.list({}, 0, 1000)).events

    it('streams JSONL that parses back to the stored events, and audits the export first', async () => {
      const started = await chain.export({}, 'jsonl', exporter)
      const body = await text(started.stream)
      const lines = body.trimEnd().split('\n').map((l) => AuditEventView.parse(JSON.parse(l)))
      assert.equal(started.count, lines.length)
      const stored = (await all()).filter((e) => e.seq <= started.upTo)
      assert.deepEqual(lines.map((l) => [l.seq, l.hash, l.details, l.customer]), stored.map((e) => [e.seq, e.hash, e.details, e.customerId]))
      const last = (await all()).at(-1)!
      assert.equal(last.action, 'audit.export')
      assert.equal(last.actor, 'auditor1')
      assert.deepEqual(last.details, {count: started.count, filters: {}, format: 'jsonl', scoped: false, upTo: started.upTo, upToHash: started.upToHash})
      assert.equal((await chain.verify()).ok, true)
    })

    it('streams CSV with a header that round-trips through an RFC 4180 parser, with filters', async () => {
      const filter = normalizeFilter({user: 'alice', action: 'tunnel.*'})
      const started = await chain.export(filter, 'csv', exporter)
      const body = await text(started.stream)
      assert.ok(body.startsWith('seq,id,time,actor_type,actor,action,device_serial,customer,outcome,source_ip,details,prev_hash,hash\r\n'))
      const records = parse(body, {columns: true}) as Array<Record<string, string>>
      const expected = (await all()).filter((e) => e.actor === 'alice' && e.action.startsWith('tunnel.') && e.seq <= started.upTo)
      assert.equal(records.length, 3)
      assert.equal(started.count, 3)
      assert.deepEqual(
        records.map((r) => [Number(r.seq), r.device_serial || null, r.customer || null, JSON.parse(r.details), r.hash]),
        expected.map((e) => [e.seq, e.deviceSerial, e.customerId, e.details, e.hash]),
      )
      const last = (await all()).at(-1)!
      assert.deepEqual(last.details.filters, {user: 'alice', action: 'tunnel.*'})
    })

    it('filters by time, device and scope (customers, and sites through their devices)', async () => {
      const events = await all()
      const mid = events[4].time
      const since = (await chain.list(normalizeFilter({since: mid}), 0, 1000)).events
      assert.ok(since.length > 0 && since.every((e) => e.time >= mid))
      const until = (await chain.list(normalizeFilter({until: mid}), 0, 1000)).events
      assert.ok(until.every((e) => e.time < mid))
      const device = (await chain.list(normalizeFilter({device: 'SN-2'}), 0, 1000)).events
      assert.deepEqual(device.map((e) => e.deviceSerial), Array(4).fill('SN-2'))
      const scoped = (scope: {customerId: string; siteId: string | null}[]) =>
        chain.list(normalizeFilter({}, {all: false, entries: scope}), 0, 1000).then((p) => p.events)
      const acme = await scoped([{customerId: 'acme', siteId: null}])
      assert.ok(acme.length === 6 && acme.every((e) => e.customerId === 'acme'))
      const north = await scoped([{customerId: 'acme', siteId: 'north'}])
      assert.ok(north.length === 3 && north.every((e) => e.customerId === 'acme' && e.deviceSerial === 'SN-1'))
      assert.deepEqual(await scoped([]), [])
    })

    it('pages by keyset', async () => {
      const p1 = await chain.list({}, 0, 5)
      assert.equal(p1.events.length, 5)
      assert.equal(p1.next, p1.events[4].seq)
      const p2 = await chain.list({}, p1.next!, 1000)
      assert.equal(p2.next, null)
      assert.equal(p2.events[0].seq, p1.next! + 1)
    })

    it('stops querying when the consumer destroys the stream (aborted download)', async () => {
      const started = await chain.export({}, 'jsonl', exporter)
      const first = await new Promise<Buffer>((resolve) => started.stream.once('data', resolve))
      assert.ok(first.length > 0)
      started.stream.destroy()
      await new Promise((resolve) => started.stream.once('close', resolve))
      assert.equal(started.stream.destroyed, true)
    })
  })
}
