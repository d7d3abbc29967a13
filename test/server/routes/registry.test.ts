import {strict as assert} from 'node:assert'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

for (const kind of DB_KINDS) {
  describe(`routes/registry (${kind})`, () => {
    let t: TestApp
    let root: string
    let acmeEngineer: string
    let icuViewer: string
    let nobody: string

    before(async () => {
      t = await buildTestApp(kind)
      await seedUser(t.app, {username: 'root', role: 'admin'})
      root = (await sessionFor(t.app, 'root')).accessToken
      const post = async (path: string, body: unknown) => {
        const res = await call(t.app, 'POST', path, {token: root, body})
        assert.equal(res.statusCode, 201, `${path}: ${res.body}`)
        return res.json()
      }
      await post('/customers', {id: 'acme', name: 'ACME Labs'})
      await post('/customers', {id: 'globex', name: 'Globex Hospital'})
      await post('/sites', {id: 'acme-icu', customer: 'acme', name: 'ICU'})
      await post('/sites', {id: 'acme-lab', customer: 'acme', name: 'Lab'})
      await post('/sites', {id: 'globex-er', customer: 'globex', name: 'ER'})
      await post('/devices', {serial: 'A-1', model: 'Analyzer', customer: 'acme', site: 'acme-icu', labels: {ward: '3'}})
      await post('/devices', {serial: 'A-2', model: 'Analyzer', customer: 'acme', site: 'acme-lab'})
      await post('/devices', {serial: 'A-3', model: 'Pump', customer: 'acme'})
      await post('/devices', {serial: 'G-1', model: 'Imager', customer: 'globex', site: 'globex-er'})
      await seedUser(t.app, {username: 'eng', role: 'service-engineer', scope: {all: false, entries: [{customer: 'acme'}]}})
      await seedUser(t.app, {username: 'icu', role: 'viewer', mfa: false, scope: {all: false, entries: [{customer: 'acme', site: 'acme-icu'}]}})
      await seedUser(t.app, {username: 'none', role: 'viewer', mfa: false})
      acmeEngineer = (await sessionFor(t.app, 'eng')).accessToken
      icuViewer = (await sessionFor(t.app, 'icu')).accessToken
      nobody = (await sessionFor(t.app, 'none')).accessToken
    })
    after(async () => t?.close())

    const serials = async (token: string, query?: Record<string, string>) =>
      (await call(t.app, 'GET', '/devices', {token, query})).json().devices.map((d: {serial: string}) => d.serial)

    it('lists devices filtered by scope and by query', async () => {
      assert.deepEqual(await serials(root), ['A-1', 'A-2', 'A-3', 'G-1'])
      assert.deepEqual(await serials(acmeEngineer), ['A-1', 'A-2', 'A-3'])
      assert.deepEqual(await serials(icuViewer), ['A-1'])
      assert.deepEqual(await serials(nobody), [])
      assert.deepEqual(await serials(root, {customer: 'acme', site: 'acme-lab'}), ['A-2'])
      assert.deepEqual(await serials(acmeEngineer, {customer: 'globex'}), [])
      assert.deepEqual(await serials(root, {label: 'ward=3'}), ['A-1'])
      assert.deepEqual(await serials(root, {label: 'ward=4'}), [])
    })

    it('answers 404 for a device out of scope, exactly like a missing one', async () => {
      const inScope = await call(t.app, 'GET', '/devices/A-1', {token: icuViewer})
      assert.equal(inScope.statusCode, 200)
      const device = inScope.json()
      assert.deepEqual(device.labels, {ward: '3'})
      assert.equal(device.online, false)
      assert.equal(device.site, 'acme-icu')
      const out = await call(t.app, 'GET', '/devices/G-1', {token: acmeEngineer})
      const missing = await call(t.app, 'GET', '/devices/NOPE', {token: acmeEngineer})
      assert.equal(out.statusCode, 404)
      assert.equal(missing.statusCode, 404)
      assert.equal((await call(t.app, 'GET', '/devices/A-2', {token: icuViewer})).statusCode, 404)
    })

    it('filters customers and sites by scope', async () => {
      const customers = (token: string) => call(t.app, 'GET', '/customers', {token}).then((r) => r.json().customers.map((c: {id: string}) => c.id))
      const sites = (token: string) => call(t.app, 'GET', '/sites', {token}).then((r) => r.json().sites.map((s: {id: string}) => s.id))
      assert.deepEqual(await customers(root), ['acme', 'globex'])
      assert.deepEqual(await customers(acmeEngineer), ['acme'])
      assert.deepEqual(await customers(icuViewer), ['acme'])
      assert.deepEqual(await sites(acmeEngineer), ['acme-icu', 'acme-lab'])
      assert.deepEqual(await sites(icuViewer), ['acme-icu'])
      assert.deepEqual(await sites(nobody), [])
      const globexSites = await call(t.app, 'GET', '/sites', {token: root, query: {customer: 'globex'}})
      assert.deepEqual(globexSites.json().sites.map((s: {id: string}) => s.id), ['globex-er'])
    })

    it('audits creations and refuses duplicates with 409', async () => {
      assert.equal((await auditEvents(t.app, 'customer.create')).length, 2)
      assert.equal((await auditEvents(t.app, 'site.create')).length, 3)
      const devices = await auditEvents(t.app, 'device.create')
      assert.equal(devices.length, 4)
      assert.equal(devices[0].device_serial, 'A-1')
      assert.equal(devices[0].customer_id, 'acme')
      assert.equal((await call(t.app, 'POST', '/customers', {token: root, body: {id: 'acme', name: 'Other'}})).statusCode, 409)
      assert.equal((await call(t.app, 'POST', '/customers', {token: root, body: {id: 'other', name: 'ACME Labs'}})).statusCode, 409)
      assert.equal((await call(t.app, 'POST', '/sites', {token: root, body: {id: 'acme-icu', customer: 'globex', name: 'X'}})).statusCode, 409)
      assert.equal((await call(t.app, 'POST', '/devices', {token: root, body: {serial: 'A-1', model: 'X', customer: 'acme'}})).statusCode, 409)
    })

    it('names the field on bad input', async () => {
      const cases: Array<[string, string, unknown, string]> = [
        ['POST', '/customers', {id: 'Bad Id', name: 'x'}, 'body.id'],
        ['POST', '/customers', {id: 'ok', name: 'x', color: 'red'}, 'body'],
        ['POST', '/customers', {id: 'ok', name: 5}, 'body.name'],
        ['POST', '/customers', {id: 'ok', name: 'x'.repeat(201)}, 'body.name'],
        ['POST', '/sites', {id: 'x1', customer: 'missing', name: 'X'}, 'body.customer'],
        ['POST', '/devices', {serial: 'has space', model: 'X', customer: 'acme'}, 'body.serial'],
        ['POST', '/devices', {serial: 'Z-1', model: 'X', customer: 'missing'}, 'body.customer'],
        ['POST', '/devices', {serial: 'Z-1', model: 'X', customer: 'acme', site: 'globex-er'}, 'body.site'],
        ['POST', '/devices', {serial: 'Z-1', model: 'X', customer: 'acme', labels: {ward: 3}}, 'body.labels.ward'],
        ['GET', '/devices', undefined, 'querystring'],
        ['GET', '/devices?label=noequals', null, 'querystring.label'],
      ]
      for (const [method, path, body, field] of cases) {
        const res = await call(t.app, method, path, {token: root, body: body ?? undefined, query: body === undefined ? {colour: 'red'} : undefined})
        assert.equal(res.statusCode, 400, `${path} ${JSON.stringify(body)}: ${res.body}`)
        assert.equal(res.json().error.field, field, res.body)
      }
    })

    it('refuses an oversized body', async () => {
      const res = await call(t.app, 'POST', '/customers', {token: root, body: {id: 'big', name: 'x'.repeat(2 * 1024 * 1024)}})
      assert.equal(res.statusCode, 413)
    })
  })
}
