import {strict as assert} from 'node:assert'
import {breakAuditInserts, headOf, insertForgedPastHead, truncateAndRollBackHead} from '../audit/tamper.js'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

/**
 * Issue #9's defects 1, 2 and 5 as a client meets them, through the real app on a real database:
 * each case failed on the code before the fix (see the comments), and passes now.
 */
for (const kind of DB_KINDS) {
  describe(`audit integrity through the API (${kind})`, function () {
    let t: TestApp
    let admin: string

    before(async () => {
      t = await buildTestApp(kind)
      await seedUser(t.app, {username: 'root', role: 'admin'})
      await seedUser(t.app, {username: 'vic', role: 'viewer', mfa: false})
      admin = (await sessionFor(t.app, 'root')).accessToken
    })
    after(async () => t?.close())

    const verify = async (body: unknown = {}) => {
      const res = await call(t.app, 'POST', '/audit/verify', {token: admin, body})
      assert.equal(res.statusCode, 200, res.body)
      return res.json()
    }

    it('refuses a lone surrogate or NUL in any field, naming it, and the chain stays intact', async () => {
      // Before: 401 (a failed login audited with the typed name), and verify reported that row as edited for good.
      for (const username of ['x\ud800', 'y\udfffz', 'nul\u0000']) {
        const res = await call(t.app, 'POST', '/auth/login', {body: {username, password: 'whatever-123456'}})
        assert.equal(res.statusCode, 400, res.body)
        assert.deepEqual([res.json().error.code, res.json().error.field], ['USAGE', 'body.username'])
      }
      const nested = await call(t.app, 'POST', '/customers', {token: admin, body: {id: 'c1', name: 'C', ['bad\ud800key']: 1}})
      assert.equal(nested.statusCode, 400)
      assert.match(nested.json().error.message, /key that is not well-formed Unicode/)
      assert.equal((await verify()).ok, true)
    })

    it('a URL that does not decode answers in the documented error shape', async () => {
      for (const url of ['/api/v1/users/%ff', '/api/v1/devices/%ED%A0%80', '/%ff']) {
        const res = await t.app.inject({method: 'GET', url, headers: {authorization: `Bearer ${admin}`}})
        assert.equal(res.statusCode, 400, url)
        // Before: fastify's own {"error":"Bad Request","code":"FST_ERR_BAD_URL",...}.
        assert.deepEqual(Object.keys(res.json()), ['error'])
        assert.equal(res.json().error.code, 'USAGE')
      }
    })

    it('a stray row past the head: changes, logins, verify and export all keep working, and verify names the row', async () => {
      assert.equal((await call(t.app, 'POST', '/customers', {token: admin, body: {id: 'initech', name: 'Initech'}})).statusCode, 201)
      const forged = await insertForgedPastHead(t.app.db)
      // Before: 500 for each of these, while the customer and the re-enabled user were committed unaudited.
      assert.equal((await call(t.app, 'POST', '/customers', {token: admin, body: {id: 'acme', name: 'ACME'}})).statusCode, 201)
      assert.equal((await call(t.app, 'POST', '/users/vic/disable', {token: admin})).statusCode, 200)
      assert.equal((await call(t.app, 'POST', '/users/vic/enable', {token: admin})).statusCode, 200)
      const login = await call(t.app, 'POST', '/auth/login', {body: {username: 'vic', password: 'Pw-vic-0123456789'}})
      assert.equal(login.statusCode, 200, login.body)
      assert.ok((await auditEvents(t.app, 'customer.create')).some((e) => e.customer_id === 'acme'))
      assert.equal((await auditEvents(t.app, 'user.enable')).length, 1)
      const result = await verify()
      assert.equal(result.ok, false)
      assert.deepEqual(result.problems.map((p: {kind: string; seq: number}) => [p.kind, p.seq]), [['inserted', forged]])
      const exported = await call(t.app, 'GET', '/audit/export', {token: admin})
      assert.equal(exported.statusCode, 200)
      assert.ok(exported.body.split('\n').some((l) => l.includes('"actor":"mallory"')), 'the export shows what is in the table, the forged row too')
      // Put the table back for the cases below (the forged row is the only one written by hand).
      await t.app.db.deleteFrom('audit_events').where('seq', '=', forged).execute()
      assert.equal((await verify()).ok, true, 'links past a removed stray row still hold')
    })

    it('a change whose audit event cannot be stored is not made: 503 AUDIT_UNAVAILABLE, nothing committed', async () => {
      assert.equal((await call(t.app, 'POST', '/users/vic/disable', {token: admin})).statusCode, 200)
      const restore = await breakAuditInserts(t.app.db, kind)
      try {
        const created = await call(t.app, 'POST', '/customers', {token: admin, body: {id: 'globex', name: 'Globex'}})
        assert.equal(created.statusCode, 503, created.body)
        assert.equal(created.json().error.code, 'AUDIT_UNAVAILABLE')
        assert.equal((await call(t.app, 'POST', '/users/vic/enable', {token: admin})).statusCode, 503)
        const login = await call(t.app, 'POST', '/auth/login', {body: {username: 'root', password: 'wrong-password-1'}})
        assert.equal(login.statusCode, 503)
      } finally {
        await restore()
      }
      assert.equal((await call(t.app, 'GET', '/customers', {token: admin})).json().customers.some((c: {id: string}) => c.id === 'globex'), false)
      assert.equal((await call(t.app, 'GET', '/users/vic', {token: admin})).json().disabled, true)
      const throttle = await t.app.db.selectFrom('login_throttle').selectAll().where('key', '=', 'user:root').executeTakeFirst()
      assert.equal(throttle, undefined, 'the failed login was not counted either')
      assert.equal((await verify()).ok, true)
    })

    it('checkpoints: signed on demand, kept outside, and a truncation with the head rolled back is caught by them', async () => {
      const signed = await call(t.app, 'POST', '/audit/checkpoint', {token: admin, body: {}})
      assert.equal(signed.statusCode, 200, signed.body)
      const {checkpoint, publicKey} = signed.json()
      assert.equal(checkpoint.keyId, publicKey.keyId)
      const head = await headOf(t.app.db)
      assert.deepEqual([checkpoint.seq, checkpoint.hash], [head.seq, head.hash])
      assert.deepEqual((await call(t.app, 'GET', '/audit/checkpoint', {token: admin})).json().checkpoint, checkpoint)
      const before = await verify({checkpoints: [checkpoint]})
      assert.deepEqual([before.ok, before.checkpoints[0].verdict], [true, 'ok'])
      assert.equal(before.head.seq, checkpoint.seq, 'verify answers the head it verified (signing on demand is not an event)')
      await truncateAndRollBackHead(t.app.db, checkpoint.seq - 3)
      assert.equal((await verify()).ok, true, 'the chain alone cannot show a truncation with the head rolled back')
      const after = await verify({checkpoints: [checkpoint]})
      assert.equal(after.ok, false)
      assert.equal(after.problems.at(-1).kind, 'checkpoint')
      assert.match(after.problems.at(-1).message, /the newest events were deleted and the head rolled back/)
    })

    it('a deleted chain head row: verify and export answer 503 naming audit_head, never a 500 or a misleading cause', async () => {
      const head = await t.app.db.selectFrom('audit_head' as never).selectAll().executeTakeFirstOrThrow()
      await t.app.db.deleteFrom('audit_head' as never).execute()
      try {
        // Before: export answered 500, verify 503 saying an event could not be recorded.
        for (const [method, url, body] of [['POST', '/audit/verify', {}], ['GET', '/audit/export', undefined]] as const) {
          const res = await call(t.app, method, url, {token: admin, body})
          assert.equal(res.statusCode, 503, `${url}: ${res.body}`)
          assert.equal(res.json().error.code, 'AUDIT_UNAVAILABLE')
          assert.match(res.json().error.message, /audit chain head \(audit_head\) is missing/, url)
        }
      } finally {
        await t.app.db.insertInto('audit_head' as never).values(head as never).execute()
      }
      assert.equal((await verify()).ok, true)
    })

    it('export ends with the head it covers', async () => {
      const res = await call(t.app, 'GET', '/audit/export', {token: admin})
      const head = await t.app.db.selectFrom('audit_events').select(['seq', 'hash']).where('seq', '=', Number(res.headers['x-audit-up-to'])).executeTakeFirstOrThrow()
      assert.equal(res.headers['x-audit-head-hash'], head.hash)
    })
  })
}
