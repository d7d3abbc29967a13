import {strict as assert} from 'node:assert'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

for (const kind of DB_KINDS) {
  describe(`routes/users (${kind})`, () => {
    let t: TestApp
    let root: string

    before(async () => {
      t = await buildTestApp(kind)
      await seedUser(t.app, {username: 'root', role: 'admin'})
      root = (await sessionFor(t.app, 'root')).accessToken
      await call(t.app, 'POST', '/customers', {token: root, body: {id: 'acme', name: 'ACME'}})
      await call(t.app, 'POST', '/sites', {token: root, body: {id: 'acme-icu', customer: 'acme', name: 'ICU'}})
    })
    after(async () => t?.close())

    it('creates a user with a generated password shown once, who can then log in', async () => {
      const res = await call(t.app, 'POST', '/users', {token: root, body: {username: 'alice', role: 'viewer', displayName: 'Alice A.'}})
      assert.equal(res.statusCode, 201, res.body)
      const {user, initialPassword} = res.json()
      assert.equal(typeof initialPassword, 'string')
      assert.equal(user.scope.all, false)
      assert.equal(user.mfaEnabled, false)
      const login = await call(t.app, 'POST', '/auth/login', {body: {username: 'alice', password: initialPassword}})
      assert.equal(login.statusCode, 200, login.body)
      assert.equal(login.json().mfaEnrollmentRequired, false)
      const shown = await call(t.app, 'GET', '/users/alice', {token: root})
      assert.equal(shown.json().displayName, 'Alice A.')
      assert.ok(!('initialPassword' in shown.json()))
      const created = await auditEvents(t.app, 'user.create')
      assert.ok(created.some((e) => JSON.parse(e.details).username === 'alice' && !e.details.includes(initialPassword)))
    })

    it('checks the password rule, the username and duplicates', async () => {
      const weak = await call(t.app, 'POST', '/users', {token: root, body: {username: 'bob', role: 'viewer', password: 'short'}})
      assert.equal(weak.statusCode, 400)
      assert.equal(weak.json().error.field, 'body.password')
      const sameAsName = await call(t.app, 'POST', '/users', {token: root, body: {username: 'bobbybobby12', role: 'viewer', password: 'BobbyBobby12'}})
      assert.equal(sameAsName.json().error.field, 'body.password')
      const badName = await call(t.app, 'POST', '/users', {token: root, body: {username: 'b b', role: 'viewer'}})
      assert.equal(badName.json().error.field, 'body.username')
      const badRole = await call(t.app, 'POST', '/users', {token: root, body: {username: 'bob', role: 'god'}})
      assert.equal(badRole.json().error.field, 'body.role')
      const unknownField = await call(t.app, 'POST', '/users', {token: root, body: {username: 'bob', role: 'viewer', isAdmin: true}})
      assert.equal(unknownField.statusCode, 400)
      assert.match(unknownField.json().error.message, /isAdmin/)
      const badScope = await call(t.app, 'POST', '/users', {token: root, body: {username: 'bob', role: 'viewer', scope: {all: false, entries: [{customer: 'nope'}]}}})
      assert.equal(badScope.json().error.field, 'body.scope.entries.0.customer')
      const ok = await call(t.app, 'POST', '/users', {token: root, body: {username: 'bob', role: 'viewer', password: 'Good-password-42'}})
      assert.equal(ok.statusCode, 201)
      assert.ok(!('initialPassword' in ok.json()))
      assert.equal((await call(t.app, 'POST', '/users', {token: root, body: {username: 'bob', role: 'viewer'}})).statusCode, 409)
      assert.equal((await call(t.app, 'GET', '/users/nobody', {token: root})).statusCode, 404)
    })

    it('sets role and scope, audited, with the customer checked', async () => {
      await seedUser(t.app, {username: 'carol', role: 'viewer', mfa: false})
      const role = await call(t.app, 'PUT', '/users/carol/role', {token: root, body: {role: 'auditor'}})
      assert.equal(role.statusCode, 200)
      assert.equal(role.json().role, 'auditor')
      const roleEvents = await auditEvents(t.app, 'user.role.set')
      assert.deepEqual(JSON.parse(roleEvents.at(-1)?.details ?? '{}'), {username: 'carol', from: 'viewer', to: 'auditor'})
      const bad = await call(t.app, 'PUT', '/users/carol/scope', {token: root, body: {all: false, entries: [{customer: 'acme'}, {customer: 'ghost'}]}})
      assert.equal(bad.statusCode, 400)
      assert.equal(bad.json().error.field, 'body.entries.1.customer')
      const badSite = await call(t.app, 'PUT', '/users/carol/scope', {token: root, body: {all: false, entries: [{customer: 'acme', site: 'other'}]}})
      assert.equal(badSite.json().error.field, 'body.entries.0.site')
      const ok = await call(t.app, 'PUT', '/users/carol/scope', {token: root, body: {all: false, entries: [{customer: 'acme', site: 'acme-icu'}]}})
      assert.equal(ok.statusCode, 200, ok.body)
      assert.deepEqual(ok.json().scope, {all: false, entries: [{customer: 'acme', site: 'acme-icu'}]})
      assert.equal((await auditEvents(t.app, 'user.scope.set')).length, 1)
      const list = await call(t.app, 'GET', '/users', {token: root})
      const carol = list.json().users.find((u: {username: string}) => u.username === 'carol')
      assert.deepEqual(carol.scope, {all: false, entries: [{customer: 'acme', site: 'acme-icu'}]})
      assert.equal((await call(t.app, 'PUT', '/users/root/role', {token: root, body: {role: 'viewer'}})).statusCode, 409)
    })

    it('disabling a user revokes their access token, refresh token and API tokens at once', async () => {
      await seedUser(t.app, {username: 'dave', role: 'service-engineer'})
      const pair = await sessionFor(t.app, 'dave')
      const token = (await call(t.app, 'POST', '/tokens', {token: pair.accessToken, body: {name: 'ci', ttlSeconds: 3600}})).json().token
      assert.equal((await call(t.app, 'GET', '/devices', {token: pair.accessToken})).statusCode, 200)
      assert.equal((await call(t.app, 'GET', '/devices', {token})).statusCode, 200)

      const disabled = await call(t.app, 'POST', '/users/dave/disable', {token: root})
      assert.equal(disabled.statusCode, 200)
      assert.equal(disabled.json().disabled, true)
      for (const bearer of [pair.accessToken, token]) {
        const res = await call(t.app, 'GET', '/devices', {token: bearer})
        assert.equal(res.statusCode, 401, res.body)
      }
      assert.equal((await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: pair.refreshToken}})).statusCode, 401)
      assert.equal((await auditEvents(t.app, 'user.disable')).length, 1)

      // Enabling does not bring the old credentials back.
      assert.equal((await call(t.app, 'POST', '/users/dave/enable', {token: root})).json().disabled, false)
      assert.equal((await call(t.app, 'GET', '/devices', {token})).statusCode, 401)
      assert.equal((await call(t.app, 'GET', '/devices', {token: pair.accessToken})).statusCode, 401)
      assert.equal((await call(t.app, 'GET', '/devices', {token: (await sessionFor(t.app, 'dave')).accessToken})).statusCode, 200)
      assert.equal((await call(t.app, 'POST', '/users/root/disable', {token: root})).statusCode, 409)
    })
  })
}
