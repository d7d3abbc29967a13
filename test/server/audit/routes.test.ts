import {strict as assert} from 'node:assert'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import Fastify, {type FastifyInstance} from 'fastify'
import {parse} from 'csv-parse/sync'
import {API_PREFIX} from '../../../src/protocol/api/common.js'
import {AuditList, AuditVerifyResponse} from '../../../src/protocol/api/audit.js'
import {auditPlugin, auditRequest} from '../../../src/server/audit/plugin.js'
import {defaultServerConfig} from '../../../src/server/config-defaults.js'
import {dbPlugin} from '../../../src/server/db/plugin.js'
import {useErrorHandler} from '../../../src/server/http/error-handler.js'
import {useZodCompilers} from '../../../src/server/http/zod-compilers.js'
import {auditRoutes} from '../../../src/server/routes/audit.js'
import {DIALECTS, type TestDatabase, freshDatabase} from './databases.js'
import {fakeAuthPlugin, principalHeader} from './fake-auth.js'

const scopedAcme = principalHeader({username: 'sam', scope: {all: false, entries: [{customerId: 'acme', siteId: null}]}})

for (const dialect of DIALECTS) {
  describe(`audit routes (${dialect})`, function () {
    let t: TestDatabase
    let app: FastifyInstance
    let dataDir: string

    before(async () => {
      t = await freshDatabase(dialect)
      app = Fastify()
      // The checkpoint key lands in a data dir of its own (the audit plugin creates it on first use).
      dataDir = await mkdtemp(join(tmpdir(), 'tether-audit-routes-'))
      app.decorate('config', defaultServerConfig(dataDir))
      useZodCompilers(app)
      useErrorHandler(app)
      // The db plugin closes the database with the app; cleanup() then only drops it.
      await app.register(dbPlugin, {opened: {...t.opened, close: async () => {}}})
      await app.register(auditPlugin)
      await app.register(fakeAuthPlugin)
      await app.register(auditRoutes, {prefix: API_PREFIX})
      // A route as other engineers write them: audited through the request helper.
      app.post('/test/act', async (request) => auditRequest(request, {action: 'device.reboot', outcome: 'success', customerId: (request.body as {c: string | null}).c}))
      await app.ready()
      for (const c of ['acme', 'globex', null, 'acme']) {
        await app.inject({method: 'POST', url: '/test/act', headers: principalHeader({username: 'eng'}), payload: {c}})
      }
    })
    after(async () => {
      await app?.close()
      await t?.cleanup()
      if (dataDir) await rm(dataDir, {recursive: true, force: true})
    })

    it('records actor and source address from the request', async () => {
      const res = await app.inject({method: 'GET', url: `${API_PREFIX}/audit/events`, headers: principalHeader()})
      assert.equal(res.statusCode, 200)
      const {events} = AuditList.parse(res.json())
      assert.deepEqual(events.map((e) => [e.actor, e.actorType, e.action, e.sourceIp, e.customer]), [
        ['eng', 'user', 'device.reboot', '127.0.0.1', 'acme'],
        ['eng', 'user', 'device.reboot', '127.0.0.1', 'globex'],
        ['eng', 'user', 'device.reboot', '127.0.0.1', null],
        ['eng', 'user', 'device.reboot', '127.0.0.1', 'acme'],
      ])
    })

    it('answers 401 without a principal and 403 without audit:read', async () => {
      for (const [method, url] of [['GET', '/audit/events'], ['GET', '/audit/export'], ['POST', '/audit/verify']] as const) {
        const anon = await app.inject({method, url: `${API_PREFIX}${url}`})
        assert.equal(anon.statusCode, 401, url + anon.body)
        const viewer = await app.inject({method, url: `${API_PREFIX}${url}`, headers: principalHeader({role: 'viewer', permissions: ['devices:read']})})
        assert.equal(viewer.statusCode, 403, url)
        assert.equal(viewer.json().error.code, 'FORBIDDEN')
      }
    })

    it('shows scoped users only their customers’ events', async () => {
      const res = await app.inject({method: 'GET', url: `${API_PREFIX}/audit/events?limit=2`, headers: scopedAcme})
      const page = AuditList.parse(res.json())
      assert.deepEqual(page.events.map((e) => e.customer), ['acme', 'acme'])
      assert.equal(page.next, page.events[1].seq)
      const exp = await app.inject({method: 'GET', url: `${API_PREFIX}/audit/export?format=csv`, headers: scopedAcme})
      assert.equal(exp.statusCode, 200)
      const rows = parse(exp.body, {columns: true}) as Array<Record<string, string>>
      assert.deepEqual(rows.map((r) => r.customer), ['acme', 'acme'])
    })

    it('rejects bad filters with 400 naming the field', async () => {
      const res = await app.inject({method: 'GET', url: `${API_PREFIX}/audit/events?since=last-week`, headers: principalHeader()})
      assert.equal(res.statusCode, 400)
      assert.equal(res.json().error.field, 'querystring.since')
      const unknown = await app.inject({method: 'GET', url: `${API_PREFIX}/audit/export?colour=red`, headers: principalHeader()})
      assert.equal(unknown.statusCode, 400)
      const format = await app.inject({method: 'GET', url: `${API_PREFIX}/audit/export?format=xml`, headers: principalHeader()})
      assert.equal(format.statusCode, 400)
      assert.equal(format.json().error.field, 'querystring.format')
    })

    it('streams the export with its headers and audits it', async () => {
      const res = await app.inject({method: 'GET', url: `${API_PREFIX}/audit/export?user=eng`, headers: principalHeader({username: 'aud'})})
      assert.equal(res.statusCode, 200)
      assert.match(res.headers['content-type'] as string, /^application\/x-ndjson/)
      assert.match(res.headers['content-disposition'] as string, /^attachment; filename="tether-audit-\d{8}T\d{6}Z\.jsonl"$/)
      const lines = res.body.trimEnd().split('\n').map((l) => JSON.parse(l))
      assert.equal(lines.length, 4)
      assert.equal(res.headers['x-audit-count'], '4')
      const list = AuditList.parse(
        (await app.inject({method: 'GET', url: `${API_PREFIX}/audit/events?action=audit.export&user=aud`, headers: principalHeader()})).json(),
      )
      assert.equal(list.events.length, 1)
      const upTo = Number(res.headers['x-audit-up-to'])
      const upToHash = res.headers['x-audit-head-hash']
      assert.match(String(upToHash), /^[0-9a-f]{64}$/)
      assert.deepEqual(list.events[0].details, {count: 4, filters: {user: 'eng'}, format: 'jsonl', scoped: false, upTo, upToHash})
      assert.equal(list.events[0].sourceIp, '127.0.0.1')
    })

    it('verifies for unscoped users only, and records the verification', async () => {
      const scoped = await app.inject({method: 'POST', url: `${API_PREFIX}/audit/verify`, headers: scopedAcme})
      assert.equal(scoped.statusCode, 403)
      const res = await app.inject({method: 'POST', url: `${API_PREFIX}/audit/verify`, headers: principalHeader()})
      assert.equal(res.statusCode, 200)
      const body = AuditVerifyResponse.parse(res.json())
      assert.equal(body.ok, true)
      assert.ok(body.checked >= 5)
      await t.opened.db.updateTable('audit_events').set({actor: 'mallory'}).where('seq', '=', 2).execute()
      const bad = AuditVerifyResponse.parse((await app.inject({method: 'POST', url: `${API_PREFIX}/audit/verify`, headers: principalHeader()})).json())
      assert.equal(bad.ok, false)
      assert.deepEqual(bad.problems.map((p) => [p.kind, p.seq]), [['edited', 2]])
      const last = AuditList.parse((await app.inject({method: 'GET', url: `${API_PREFIX}/audit/events?action=audit.verify`, headers: principalHeader()})).json())
      assert.deepEqual(last.events.map((e) => e.outcome), ['success', 'failure'])
    })
  })
}
