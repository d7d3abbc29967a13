import {strict as assert} from 'node:assert'
import {mkdir, writeFile} from 'node:fs/promises'
import {dirname} from 'node:path'
import {createDeviceCsr} from '../../../src/server/enrollment/direct-issue.js'
import {createCa} from '../../../src/server/pki/ca.js'
import {fingerprintOf, x509} from '../../../src/shared/x509.js'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

for (const kind of DB_KINDS) {
  describe(`enrollment: tokens, CSR signing, revoke (${kind})`, function () {
    this.timeout(30_000)
    let t: TestApp
    let admin: string
    let engineer: string
    let viewer: string
    let deviceCaPem: string
    let serverCaPem: string

    before(async () => {
      t = await buildTestApp(kind)
      const {app, config} = t
      // buildTestApp makes no PKI: the CAs `server init` would create.
      const deviceCa = await createCa('Test Device CA')
      const rootCa = await createCa('Test Root CA')
      deviceCaPem = deviceCa.certPem
      serverCaPem = rootCa.certPem
      await mkdir(dirname(config.deviceCa.certFile), {recursive: true})
      await mkdir(dirname(config.tls.caFile), {recursive: true})
      await writeFile(config.deviceCa.certFile, deviceCa.certPem)
      await writeFile(config.deviceCa.keyFile, deviceCa.keyPem, {mode: 0o600})
      await writeFile(config.tls.caFile, rootCa.certPem)
      const now = new Date().toISOString()
      await app.db.insertInto('customers').values([{id: 'acme', name: 'Acme', created_at: now}, {id: 'other', name: 'Other', created_at: now}]).execute()
      await app.db.insertInto('sites').values({id: 'acme-icu', customer_id: 'acme', name: 'ICU', created_at: now}).execute()
      await seedUser(app, {username: 'boss', role: 'admin'})
      await seedUser(app, {username: 'eng', role: 'service-engineer', scope: {all: false, entries: [{customer: 'acme', site: null}]}})
      await seedUser(app, {username: 'view', role: 'viewer'})
      admin = (await sessionFor(app, 'boss')).accessToken
      engineer = (await sessionFor(app, 'eng')).accessToken
      viewer = (await sessionFor(app, 'view')).accessToken
    })
    after(async () => {
      if (t) await t.close()
    })

    const newToken = async (serial: string, extra: Record<string, unknown> = {}, token = admin) =>
      call(t.app, 'POST', '/devices/enroll-tokens', {token, body: {serial, model: 'X200', customer: 'acme', site: 'acme-icu', ...extra}})
    // Each attempt from its own address: the per-address enroll limit has its own test.
    let n = 0
    const enroll = (body: unknown) => call(t.app, 'POST', '/agent/enroll', {body, ip: `10.1.${Math.floor(++n / 250)}.${n % 250}`})

    it('creates the device and a one-time token, enrolls once, refuses reuse', async () => {
      const created = await newToken('SN-1', {ttlSeconds: 3600})
      assert.equal(created.statusCode, 201, created.body)
      const view = created.json()
      assert.match(view.token, /^tet_enr_/)
      assert.equal(view.serial, 'SN-1')
      assert.equal(view.site, 'acme-icu')
      const stored = await t.app.db.selectFrom('enrollment_tokens').selectAll().where('serial', '=', 'SN-1').execute()
      assert.equal(stored.length, 1)
      assert.notEqual(stored[0].token_hash, view.token, 'only a hash is stored')

      const {csrPem} = await createDeviceCsr('SN-1')
      const res = await enroll({token: view.token, csr: csrPem})
      assert.equal(res.statusCode, 200, res.body)
      const body = res.json()
      const cert = new x509.X509Certificate(body.certificate)
      assert.equal(cert.subjectName.getField('CN')[0], 'SN-1')
      assert.equal(body.caChain, deviceCaPem)
      assert.equal(body.serverCa, serverCaPem)
      const device = await t.app.db.selectFrom('devices').selectAll().where('serial', '=', 'SN-1').executeTakeFirstOrThrow()
      assert.ok(device.enrolled_at)
      assert.equal(device.cert_fingerprint, fingerprintOf(body.certificate))

      const again = await enroll({token: view.token, csr: csrPem})
      assert.equal(again.statusCode, 401)
      assert.match(again.json().error.message, /already used/)
      assert.equal((await auditEvents(t.app, 'device.enroll-token.created')).length, 1)
      const enrolled = await auditEvents(t.app, 'device.enrolled')
      assert.deepEqual(enrolled.map((e) => e.outcome), ['success', 'denied'])
      assert.equal(enrolled[0].actor, 'SN-1')
    })

    it('refuses an expired token with 410', async () => {
      const view = (await newToken('SN-EXP')).json()
      await t.app.db.updateTable('enrollment_tokens').set({expires_at: '2000-01-01T00:00:00.000Z'}).where('serial', '=', 'SN-EXP').execute()
      const res = await enroll({token: view.token, csr: (await createDeviceCsr('SN-EXP')).csrPem})
      assert.equal(res.statusCode, 410)
      assert.equal(res.json().error.code, 'TOKEN_EXPIRED')
    })

    it('refuses a CSR whose serial differs from the token, without consuming the token', async () => {
      const view = (await newToken('SN-MM')).json()
      const res = await enroll({token: view.token, csr: (await createDeviceCsr('SN-OTHER')).csrPem})
      assert.equal(res.statusCode, 400)
      assert.equal(res.json().error.field, 'body.csr')
      assert.match(res.json().error.message, /does not match/)
      const garbage = await enroll({token: view.token, csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' + 'x'.repeat(40)})
      assert.equal(garbage.statusCode, 400)
      const ok = await enroll({token: view.token, csr: (await createDeviceCsr('SN-MM')).csrPem})
      assert.equal(ok.statusCode, 200)
    })

    it('refuses an unknown token with 401 and a malformed body with 400', async () => {
      const res = await enroll({token: 'tet_enr_' + 'a'.repeat(43), csr: (await createDeviceCsr('SN-X')).csrPem})
      assert.equal(res.statusCode, 401)
      assert.equal((await enroll({token: 'short'})).statusCode, 400)
    })

    it('a new token replaces the unused one', async () => {
      const first = (await newToken('SN-R')).json()
      const second = (await newToken('SN-R')).json()
      const csr = (await createDeviceCsr('SN-R')).csrPem
      assert.equal((await enroll({token: first.token, csr})).statusCode, 401)
      assert.equal((await enroll({token: second.token, csr})).statusCode, 200)
    })

    it('a registered device needs no model for a new token and keeps its own; the agent learns it at enrolment', async () => {
      const unknown = await newToken('SN-NOMODEL', {model: undefined})
      assert.equal(unknown.statusCode, 400)
      assert.equal(unknown.json().error.field, 'body.model')
      assert.match(unknown.json().error.message, /not registered yet: give its model/)
      assert.equal((await newToken('SN-M', {model: 'Analyzer X200'})).statusCode, 201)
      const again = await newToken('SN-M', {model: undefined})
      assert.equal(again.statusCode, 201, again.body)
      assert.equal(again.json().model, 'Analyzer X200')
      const res = await enroll({token: again.json().token, csr: (await createDeviceCsr('SN-M')).csrPem})
      assert.equal(res.statusCode, 200, res.body)
      assert.equal(res.json().model, 'Analyzer X200')
    })

    it('checks permission and scope', async () => {
      assert.equal((await newToken('SN-V', {}, viewer)).statusCode, 403)
      const outside = await newToken('SN-O', {customer: 'other', site: undefined}, engineer)
      assert.equal(outside.statusCode, 400)
      assert.equal(outside.json().error.field, 'body.customer')
      assert.equal((await newToken('SN-E', {}, engineer)).statusCode, 201)
      // Another customer's existing device cannot be taken over through a token.
      assert.equal((await newToken('SN-1', {customer: 'other', site: undefined})).statusCode, 409)
    })

    it('revoke needs devices:manage, is audited once and drops unused tokens', async () => {
      const view = (await newToken('SN-REV')).json()
      assert.equal((await call(t.app, 'POST', '/devices/SN-REV/revoke', {token: engineer, body: {}})).statusCode, 403)
      const res = await call(t.app, 'POST', '/devices/SN-REV/revoke', {token: admin, body: {}})
      assert.equal(res.statusCode, 200, res.body)
      assert.equal(res.json().disconnected, false)
      const again = await call(t.app, 'POST', '/devices/SN-REV/revoke', {token: admin, body: {}})
      assert.equal(again.json().revokedAt, res.json().revokedAt)
      assert.equal((await auditEvents(t.app, 'device.revoked')).length, 1)
      assert.equal((await enroll({token: view.token, csr: (await createDeviceCsr('SN-REV')).csrPem})).statusCode, 401)
      assert.equal((await call(t.app, 'POST', '/devices/NOPE/revoke', {token: admin, body: {}})).statusCode, 404)
    })

    it('rate-limits enrollment attempts per address', async () => {
      let limited = 0
      for (let i = 0; i < 12; i++) {
        const res = await call(t.app, 'POST', '/agent/enroll', {ip: '127.9.9.9', body: {token: 'tet_enr_' + 'b'.repeat(43), csr: 'x'.repeat(64)}})
        if (res.statusCode === 429) limited++
      }
      assert.ok(limited >= 2, `${limited} of 12 limited`)
    })
  })
}
