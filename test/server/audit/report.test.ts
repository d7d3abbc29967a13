import {strict as assert} from 'node:assert'
import type {AuditReport} from '../../../src/protocol/api/audit.js'
import {reportCsv, reportMarkdown} from '../../../src/client/audit-report.js'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

for (const kind of DB_KINDS) {
  describe(`audit report: the periodic access review (${kind})`, () => {
    let t: TestApp
    let root: string
    const device = (serial: string, customer: string) => ({deviceSerial: serial, customerId: customer})

    before(async () => {
      t = await buildTestApp(kind)
      await seedUser(t.app, {username: 'root', role: 'admin'})
      root = (await sessionFor(t.app, 'root')).accessToken
      for (const c of ['acme', 'other']) assert.equal((await call(t.app, 'POST', '/customers', {token: root, body: {id: c, name: c}})).statusCode, 201)
      for (const [serial, customer] of [['SN-1', 'acme'], ['SN-2', 'acme'], ['SN-9', 'other']]) {
        assert.equal((await call(t.app, 'POST', '/devices', {token: root, body: {serial, model: 'A', customer}})).statusCode, 201)
      }
      await seedUser(t.app, {username: 'eng', role: 'service-engineer', scope: {all: true, entries: []}})
      await seedUser(t.app, {username: 'gone', role: 'service-engineer', scope: {all: true, entries: []}})
      await seedUser(t.app, {username: 'acme-auditor', role: 'auditor', scope: {all: false, entries: [{customer: 'acme'}]}})
      // The trail as the tunnel, access and job code write it (engineer-leg.ts, access/service.ts, hub events).
      const a = t.app.audit
      await a.append({actorType: 'user', actor: 'eng', action: 'access.requested', outcome: 'success', ...device('SN-1', 'acme'), details: {requestId: 'req-1', reason: 'INC-4711 analyser error 42'}})
      await a.append({actorType: 'device', actor: 'SN-1', action: 'device.access.decided', outcome: 'success', ...device('SN-1', 'acme'), details: {actor: 'local:nurse', requestId: 'req-1', decision: 'approved', user: 'eng', ports: [22], until: '2099-01-01T00:00:00.000Z'}})
      await a.append({actorType: 'user', actor: 'eng', action: 'tunnel.open', outcome: 'success', ...device('SN-1', 'acme'), details: {tunnelId: 't1', target: '127.0.0.1:22', setupMs: 80}})
      await a.append({actorType: 'user', actor: 'eng', action: 'tunnel.close', outcome: 'success', ...device('SN-1', 'acme'), details: {tunnelId: 't1', target: '127.0.0.1:22', why: 'finished', bytesToDevice: 1000, bytesFromDevice: 24, durationMs: 125_000}})
      await a.append({actorType: 'user', actor: 'eng', action: 'tunnel.open', outcome: 'success', ...device('SN-2', 'acme'), details: {tunnelId: 't2', target: '127.0.0.1:5900', reason: 'INC-4712 display'}})
      await a.append({actorType: 'user', actor: 'gone', action: 'tunnel.open', outcome: 'success', ...device('SN-9', 'other'), details: {tunnelId: 't3', target: '127.0.0.1:22'}})
      await a.append({actorType: 'user', actor: 'eng', action: 'tunnel.refused', outcome: 'denied', ...device('SN-2', 'acme'), details: {target: '127.0.0.1:23'}})
      // A real job request through the API, covered by the approval above.
      const eng = (await sessionFor(t.app, 'eng')).accessToken
      assert.equal((await call(t.app, 'POST', '/devices/SN-1/diagnostics', {token: eng, body: {name: 'memory'}})).statusCode, 202)
      await t.app.db.updateTable('users').set({disabled_at: new Date().toISOString()}).where('username', '=', 'gone').execute()
    })
    after(async () => t?.close())

    const report = async (token: string, query: string) => {
      const res = await call(t.app, 'GET', `/audit/report?${query}`, {token})
      assert.equal(res.statusCode, 200, res.body)
      return res.json() as AuditReport
    }

    it('groups access by reason (a job takes the reason of the approval that covered it) and flags what needs a look', async () => {
      const r = await report(root, 'since=2000-01-01')
      const byReason = new Map(r.groups.map((g) => [g.reason, g.accesses]))
      const incident = byReason.get('INC-4711 analyser error 42')!
      assert.deepEqual(incident.map((x) => [x.kind, x.what, x.approval, x.flags]), [
        ['tunnel', '127.0.0.1:22', 'req-1', []],
        ['diagnostic', 'diagnostic memory', 'req-1', []],
      ])
      assert.equal(incident[0].durationSeconds, 125)
      assert.equal(incident[0].bytes, 1024)
      assert.deepEqual(byReason.get('INC-4712 display')!.map((x) => x.flags), [['outside-approval']])
      assert.deepEqual(byReason.get(null)!.map((x) => [x.user, x.flags]), [['gone', ['no-reason', 'outside-approval', 'disabled-user']]])
      assert.equal(r.groups[0].reason, null, 'reasonless access comes first')
      assert.deepEqual(r.totals, {accesses: 4, flagged: 2, byFlag: {'outside-approval': 2, 'no-reason': 1, 'disabled-user': 1}})
      assert.ok(!r.groups.flatMap((g) => g.accesses).some((x) => x.what === '127.0.0.1:23'), 'a refused tunnel is no access')
    })

    it('limits to a customer, to the reader\'s scope and to the period; producing it is audited', async () => {
      const acme = await report(root, 'since=2000-01-01&customer=other')
      assert.deepEqual(acme.groups.flatMap((g) => g.accesses.map((x) => x.device)), ['SN-9'])
      const scoped = await report((await sessionFor(t.app, 'acme-auditor')).accessToken, 'since=2000-01-01')
      assert.ok(scoped.groups.flatMap((g) => g.accesses).every((x) => x.customer === 'acme'))
      assert.equal(scoped.totals.accesses, 3)
      const future = await report(root, 'since=2098-01-01&until=2099-01-01')
      assert.equal(future.totals.accesses, 0)
      assert.ok((await auditEvents(t.app, 'audit.report')).length >= 3)
    })

    it('refuses a bad period naming the field, and needs audit:read', async () => {
      const bad = await call(t.app, 'GET', '/audit/report?since=yesterday', {token: root})
      assert.equal(bad.statusCode, 400)
      assert.match(bad.body, /since/)
      const eng = (await sessionFor(t.app, 'eng')).accessToken
      assert.equal((await call(t.app, 'GET', '/audit/report?since=2000-01-01', {token: eng})).statusCode, 403)
    })

    it('renders Markdown and CSV a reviewer can read', async () => {
      const r = await report(root, 'since=2000-01-01')
      const md = reportMarkdown(r)
      assert.match(md, /^# Remote access review /)
      assert.match(md, /## No reason given[\s\S]*\*\*disabled-user\*\*/)
      assert.match(md, /## INC-4711 analyser error 42/)
      const csv = reportCsv(r).trim().split('\n')
      assert.equal(csv[0], 'reason,kind,user,device,customer,start,duration_seconds,bytes,what,approval,flags')
      assert.equal(csv.length, 5)
    })
  })
}
