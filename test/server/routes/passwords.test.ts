import {strict as assert} from 'node:assert'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

const ALL = {all: true, entries: []}

for (const kind of DB_KINDS) {
  describe(`routes: changing and resetting passwords (${kind})`, () => {
    let t: TestApp
    let root: string

    before(async () => {
      t = await buildTestApp(kind, {config: (c) => (c.auth.lockoutThreshold = 5)})
      await seedUser(t.app, {username: 'root', role: 'admin'})
      root = (await sessionFor(t.app, 'root')).accessToken
    })
    after(async () => t?.close())

    const login = (username: string, password: string, ip = '10.7.0.1') => call(t.app, 'POST', '/auth/login', {body: {username, password}, ip})
    const change = (token: string, body: Record<string, unknown>, ip = '10.7.0.1') => call(t.app, 'PUT', '/me/password', {token, body, ip})
    const hashOf = async (username: string) => (await t.app.db.selectFrom('users').select('password_hash').where('username', '=', username).executeTakeFirstOrThrow()).password_hash

    /** A user with no SSO: only its sso_identities row and the placeholder hash make it one. */
    async function seedSsoUser(username: string): Promise<void> {
      const now = new Date().toISOString()
      const id = `sso-${username}`
      await t.app.db
        .insertInto('users')
        .values({id, username, display_name: null, role: 'viewer', password_hash: 'sso', mfa_secret: null, mfa_enabled: 0, scope_all: 0, disabled_at: null, token_epoch: 0, created_at: now, updated_at: now})
        .execute()
      await t.app.db.insertInto('sso_identities').values({user_id: id, issuer: 'https://idp.example', subject: `sub-${username}`, groups: '[]', created_at: now, last_login_at: now, deprovisioned_at: null}).execute()
    }

    it('refuses a wrong current password naming body.currentPassword, and counts it toward the login throttle', async () => {
      const vic = await seedUser(t.app, {username: 'vic', role: 'viewer', mfa: false})
      const session = (await sessionFor(t.app, 'vic')).accessToken
      const before = await hashOf('vic')
      for (let i = 0; i < 3; i++) {
        const res = await change(session, {currentPassword: 'Wrong-password-1', newPassword: 'New-password-4567'}, `10.7.1.${i}`)
        assert.equal(res.statusCode, 400, res.body)
        assert.equal(res.json().error.field, 'body.currentPassword')
      }
      // The fourth guess waits like a fourth login would; so does a login, and vice versa.
      const early = await change(session, {currentPassword: vic.password, newPassword: 'New-password-4567'}, '10.7.1.9')
      assert.equal(early.statusCode, 429, early.body)
      assert.ok(Number(early.headers['retry-after']) >= 1)
      assert.equal((await login('vic', vic.password, '10.7.1.8')).statusCode, 429)
      // Past the back-off, failures go on to lock the account for logins too.
      const aged = new Date(Date.now() - 120_000).toISOString()
      for (let i = 0; i < 2; i++) {
        await t.app.db.updateTable('login_throttle').set({last_failure_at: aged}).where('key', '=', 'user:vic').execute()
        await change(session, {currentPassword: 'Wrong-password-1', newPassword: 'New-password-4567'}, `10.7.2.${i}`)
      }
      const locked = await login('vic', vic.password, '10.7.2.9')
      assert.equal(locked.statusCode, 423, locked.body)
      assert.equal(await hashOf('vic'), before)
      const failures = (await auditEvents(t.app, 'user.password.changed')).filter((e) => e.actor === 'vic')
      assert.equal(failures.length, 5)
      assert.ok(failures.every((e) => e.outcome === 'failure' && JSON.parse(e.details).reason === 'bad-current-password'))
      assert.ok((await auditEvents(t.app, 'auth.lockout')).some((e) => JSON.parse(e.details).username === 'vic'))
    })

    it('refuses a weak or unchanged new password naming body.newPassword, and changes nothing', async () => {
      const wes = await seedUser(t.app, {username: 'wes', role: 'viewer', mfa: false})
      const session = (await sessionFor(t.app, 'wes')).accessToken
      const before = await hashOf('wes')
      for (const newPassword of ['short', 'aaaaaaaaaaaaaaaa', 'alllowercaseletters', 'WES', wes.password]) {
        const res = await change(session, {currentPassword: wes.password, newPassword})
        assert.equal(res.statusCode, 400, res.body)
        assert.equal(res.json().error.field, 'body.newPassword', newPassword)
      }
      assert.equal(await hashOf('wes'), before)
      assert.equal((await call(t.app, 'GET', '/me', {token: session})).statusCode, 200)
    })

    it('changes the password: the old one fails, the new one works, the other sessions end, the caller gets a new pair, audited', async () => {
      const pat = await seedUser(t.app, {username: 'pat', role: 'viewer', mfa: false, scope: ALL})
      const mine = await sessionFor(t.app, 'pat')
      const other = await sessionFor(t.app, 'pat')
      const script = await call(t.app, 'POST', '/tokens', {token: mine.accessToken, body: {name: 'nightly', permissions: ['devices:read']}})
      assert.equal(script.statusCode, 201, script.body)

      const res = await change(mine.accessToken, {currentPassword: pat.password, newPassword: 'Pat-new-password-42'}, '10.7.3.1')
      assert.equal(res.statusCode, 200, res.body)
      const fresh = res.json()
      assert.equal(fresh.user.username, 'pat')
      assert.equal((await call(t.app, 'GET', '/me', {token: fresh.accessToken})).statusCode, 200)
      // Every session from before ends, the caller's own included; its new pair is the way on.
      for (const token of [mine.accessToken, other.accessToken]) assert.equal((await call(t.app, 'GET', '/me', {token})).statusCode, 401)
      assert.equal((await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: fresh.refreshToken}})).statusCode, 200)
      for (const refreshToken of [other.refreshToken, mine.refreshToken]) assert.equal((await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken}})).statusCode, 401)
      // API tokens are credentials of their own: listed and revoked with tether tokens.
      assert.equal((await call(t.app, 'GET', '/devices', {token: script.json().token})).statusCode, 200)

      assert.equal((await login('pat', pat.password, '10.7.3.2')).statusCode, 401)
      assert.equal((await login('pat', 'Pat-new-password-42', '10.7.3.3')).statusCode, 200)
      const changed = (await auditEvents(t.app, 'user.password.changed')).filter((e) => e.actor === 'pat')
      assert.equal(changed.length, 1)
      assert.equal(changed[0].outcome, 'success')
      assert.deepEqual(JSON.parse(changed[0].details), {username: 'pat', sessionsEnded: 2})
      assert.ok(!changed[0].details.includes('Pat-new-password-42') && !changed[0].details.includes(pat.password))
    })

    it('refuses API tokens on both routes, even one holding users:manage', async () => {
      await seedUser(t.app, {username: 'ops', role: 'admin', scope: ALL})
      const ops = await seedUser(t.app, {username: 'ops-target', role: 'viewer', mfa: false})
      const minted = await call(t.app, 'POST', '/tokens', {token: (await sessionFor(t.app, 'ops')).accessToken, body: {name: 'admin-script'}})
      assert.equal(minted.statusCode, 201, minted.body)
      const token = minted.json().token as string
      const before = [await hashOf('ops'), await hashOf('ops-target')]
      const own = await change(token, {currentPassword: 'Pw-ops-0123456789', newPassword: 'Token-chosen-pw-42'})
      const reset = await call(t.app, 'POST', '/users/ops-target/password', {token, body: {password: 'Token-chosen-pw-42'}})
      for (const res of [own, reset]) {
        assert.equal(res.statusCode, 403, res.body)
        assert.equal(res.json().error.code, 'FORBIDDEN')
      }
      assert.deepEqual([await hashOf('ops'), await hashOf('ops-target')], before)
      assert.equal((await login('ops-target', ops.password, '10.7.4.1')).statusCode, 200)
    })

    it("resets a user's password: generated and shown once or given, sessions end, audited with the admin", async () => {
      const rita = await seedUser(t.app, {username: 'rita', role: 'viewer', mfa: false})
      const session = await sessionFor(t.app, 'rita')
      const generated = await call(t.app, 'POST', '/users/rita/password', {token: root, body: {}})
      assert.equal(generated.statusCode, 200, generated.body)
      const {user, generatedPassword} = generated.json()
      assert.equal(user.username, 'rita')
      assert.equal(typeof generatedPassword, 'string')
      assert.equal((await call(t.app, 'GET', '/me', {token: session.accessToken})).statusCode, 401)
      assert.equal((await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: session.refreshToken}})).statusCode, 401)
      assert.equal((await login('rita', rita.password, '10.7.5.1')).statusCode, 401)
      assert.equal((await login('rita', generatedPassword, '10.7.5.2')).statusCode, 200)

      const given = await call(t.app, 'POST', '/users/rita/password', {token: root, body: {password: 'Rita-chosen-pw-42'}})
      assert.equal(given.statusCode, 200, given.body)
      assert.ok(!('generatedPassword' in given.json()))
      assert.equal((await login('rita', 'Rita-chosen-pw-42', '10.7.5.3')).statusCode, 200)

      const weak = await call(t.app, 'POST', '/users/rita/password', {token: root, body: {password: 'rita'}})
      assert.equal(weak.statusCode, 400)
      assert.equal(weak.json().error.field, 'body.password')
      assert.equal((await call(t.app, 'POST', '/users/nobody/password', {token: root, body: {}})).statusCode, 404)
      const viewer = (await sessionFor(t.app, 'rita')).accessToken
      assert.equal((await call(t.app, 'POST', '/users/root/password', {token: viewer, body: {}})).statusCode, 403)

      const resets = await auditEvents(t.app, 'user.password.reset')
      assert.deepEqual(
        resets.map((e) => [e.actor, e.outcome, JSON.parse(e.details)]),
        [
          ['root', 'success', {username: 'rita', generatedPassword: true, sessionsEnded: 1}],
          ['root', 'success', {username: 'rita', generatedPassword: false, sessionsEnded: 1}],
        ],
      )
      assert.ok(resets.every((e) => !e.details.includes(generatedPassword) && !e.details.includes('Rita-chosen-pw-42')))
    })

    it('refuses to change or reset the password of an SSO user, naming the user', async () => {
      await seedSsoUser('sam')
      const session = (await sessionFor(t.app, 'sam')).accessToken
      const own = await change(session, {currentPassword: 'sso', newPassword: 'Sam-local-pw-4242'})
      const reset = await call(t.app, 'POST', '/users/sam/password', {token: root, body: {password: 'Sam-local-pw-4242'}})
      for (const res of [own, reset]) {
        assert.equal(res.statusCode, 409, res.body)
        assert.match(res.json().error.message, /user "sam" signs in with single sign-on/)
      }
      assert.equal(await hashOf('sam'), 'sso')
      assert.equal((await login('sam', 'Sam-local-pw-4242', '10.7.6.1')).statusCode, 401)
    })
  })
}
