import {strict as assert} from 'node:assert'
import {randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {SignJWT} from 'jose'
import {Secret, TOTP} from 'otpauth'
import {jwtKey} from '../../../src/server/auth/jwt.js'
import {readMfaKey} from '../../../src/server/auth/mfa-key.js'
import {sha256Hex} from '../../../src/server/auth/opaque-tokens.js'
import {openTotpSecret} from '../../../src/server/auth/mfa-secret.js'
import {auditEvents, buildTestApp, call, seedUser, type SeededUser, type TestApp, totpCode} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

for (const kind of DB_KINDS) {
  describe(`routes/auth (${kind})`, () => {
    let t: TestApp
    let engineer: SeededUser
    let viewer: SeededUser

    before(async () => {
      t = await buildTestApp(kind, {config: (c) => (c.auth.lockoutThreshold = 5)})
      engineer = await seedUser(t.app, {username: 'eng', role: 'service-engineer'})
      viewer = await seedUser(t.app, {username: 'view', role: 'viewer', mfa: false})
    })
    after(async () => t?.close())

    const login = (body: Record<string, unknown>, ip = '10.0.0.1') => call(t.app, 'POST', '/auth/login', {body, ip})

    it('logs in with password and TOTP, and /me describes the session', async () => {
      const res = await login({username: 'eng', password: engineer.password, totp: totpCode(engineer)})
      assert.equal(res.statusCode, 200, res.body)
      const pair = res.json()
      assert.equal(pair.mfaEnrollmentRequired, false)
      assert.equal(pair.user.username, 'eng')
      assert.equal(pair.expiresIn, 300)
      const me = await call(t.app, 'GET', '/me', {token: pair.accessToken})
      assert.equal(me.statusCode, 200, me.body)
      assert.equal(me.json().auth, 'session')
      assert.ok(me.json().permissions.includes('tunnels:open'))
      assert.ok(!('password_hash' in me.json().user))
      const ok = await auditEvents(t.app, 'auth.login')
      assert.ok(ok.some((e) => e.actor === 'eng' && e.outcome === 'success'))
    })

    it('asks for the code only after a right password, and rejects a replayed code', async () => {
      const noCode = await login({username: 'eng', password: engineer.password}, '10.0.0.2')
      assert.equal(noCode.statusCode, 401)
      assert.equal(noCode.json().error.code, 'MFA_REQUIRED')
      const code = totpCode(engineer, 1)
      const first = await login({username: 'eng', password: engineer.password, totp: code}, '10.0.0.2')
      assert.equal(first.statusCode, 200, first.body)
      const replay = await login({username: 'eng', password: engineer.password, totp: code}, '10.0.0.2')
      assert.equal(replay.statusCode, 401)
      assert.equal(replay.json().error.code, 'AUTH')
    })

    it('gives the same answer for an unknown user, a wrong password and a wrong code', async () => {
      const answers = await Promise.all([
        login({username: 'nobody', password: 'Whatever-123456'}, '10.0.1.1'),
        login({username: 'view', password: 'Wrong-password-1'}, '10.0.1.2'),
        login({username: 'eng', password: engineer.password, totp: '000000'}, '10.0.1.3'),
      ])
      for (const res of answers) {
        assert.equal(res.statusCode, 401)
        assert.deepEqual(res.json(), {error: {code: 'AUTH', message: 'invalid username, password or one-time code'}})
      }
      const failures = await auditEvents(t.app, 'auth.login')
      const reasons = failures.filter((e) => e.outcome === 'failure').map((e) => JSON.parse(e.details).reason)
      assert.ok(reasons.includes('unknown-user') && reasons.includes('bad-password') && reasons.includes('bad-totp'))
    })

    it('backs off after 3 failures (429) and locks the user at the threshold (423, audited)', async () => {
      await seedUser(t.app, {username: 'victim', role: 'viewer', mfa: false})
      const bad = {username: 'victim', password: 'Wrong-password-1'}
      for (let i = 0; i < 3; i++) assert.equal((await login(bad, `10.1.0.${i}`)).statusCode, 401)
      const early = await login(bad, '10.1.0.9')
      assert.equal(early.statusCode, 429)
      assert.ok(Number(early.headers['retry-after']) >= 1)
      // Let the back-off pass without sleeping: age the failures.
      const aged = new Date(Date.now() - 120_000).toISOString()
      await t.app.db.updateTable('login_throttle').set({last_failure_at: aged}).where('key', '=', 'user:victim').execute()
      assert.equal((await login(bad, '10.1.0.4')).statusCode, 401)
      await t.app.db.updateTable('login_throttle').set({last_failure_at: aged}).where('key', '=', 'user:victim').execute()
      const locking = await login(bad, '10.1.0.5')
      assert.equal(locking.statusCode, 423, locking.body)
      assert.equal(locking.json().error.code, 'LOCKED')
      // Locked even with the right password.
      const right = await login({username: 'victim', password: 'Pw-victim-0123456789'}, '10.1.0.6')
      assert.equal(right.statusCode, 423)
      const lockouts = await auditEvents(t.app, 'auth.lockout')
      assert.equal(lockouts.length, 1)
      assert.equal(JSON.parse(lockouts[0].details).username, 'victim')
    })

    it('throttles a source address across usernames', async () => {
      const ip = '10.9.9.9'
      for (let i = 0; i < 3; i++) assert.equal((await login({username: `ghost${i}`, password: 'Wrong-password-1'}, ip)).statusCode, 401)
      const next = await login({username: 'ghost-new', password: 'Wrong-password-1'}, ip)
      assert.equal(next.statusCode, 429)
      // Another address is not affected.
      assert.equal((await login({username: 'ghost-new', password: 'Wrong-password-1'}, '10.9.9.10')).statusCode, 401)
      // At 4x the user threshold the address is locked.
      await t.app.db.updateTable('login_throttle').set({failures: 19, last_failure_at: new Date(0).toISOString(), first_failure_at: new Date().toISOString()}).where('key', '=', `ip:${ip}`).execute()
      const locked = await login({username: 'ghost-x', password: 'Wrong-password-1'}, ip)
      assert.equal(locked.statusCode, 423)
      assert.ok((await auditEvents(t.app, 'auth.lockout')).some((e) => JSON.parse(e.details).key === 'ip'))
    })

    it('refuses disabled users with the same answer', async () => {
      const u = await seedUser(t.app, {username: 'gone', role: 'viewer', mfa: false})
      await t.app.db.updateTable('users').set({disabled_at: new Date().toISOString()}).where('id', '=', u.id).execute()
      const res = await login({username: 'gone', password: u.password}, '10.2.0.1')
      assert.equal(res.statusCode, 401)
      assert.equal(res.json().error.message, 'invalid username, password or one-time code')
    })

    it('rotates refresh tokens: the old one stops working, and its reuse revokes the new one', async () => {
      const pair = (await login({username: 'view', password: viewer.password}, '10.3.0.1')).json()
      // A stale access token sent along does not get in the way of a refresh.
      const next = await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: pair.refreshToken}, token: 'expired.jwt.value'})
      assert.equal(next.statusCode, 200, next.body)
      assert.notEqual(next.json().refreshToken, pair.refreshToken)
      const again = await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: pair.refreshToken}})
      assert.equal(again.statusCode, 401)
      const stolen = await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: next.json().refreshToken}})
      assert.equal(stolen.statusCode, 401)
    })

    it('refuses a refresh token past auth.refreshTokenTtlSeconds: the session must log in again', async () => {
      const pair = (await login({username: 'view', password: viewer.password}, '10.3.0.3')).json()
      const row = await t.app.db.selectFrom('refresh_tokens').select(['id', 'created_at', 'expires_at']).where('token_hash', '=', sha256Hex(pair.refreshToken)).executeTakeFirstOrThrow()
      assert.equal(Date.parse(row.expires_at) - Date.parse(row.created_at), t.config.auth.refreshTokenTtlSeconds * 1000)
      // Age it past its lifetime instead of waiting 12 h.
      await t.app.db.updateTable('refresh_tokens').set({expires_at: new Date(Date.now() - 1000).toISOString()}).where('id', '=', row.id).execute()
      const refused = await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: pair.refreshToken}})
      assert.equal(refused.statusCode, 401, refused.body)
      assert.match(refused.json().error.message, /refresh token expired; log in again/)
    })

    it('logout revokes the refresh token', async () => {
      const pair = (await login({username: 'view', password: viewer.password}, '10.3.0.2')).json()
      assert.equal((await call(t.app, 'POST', '/auth/logout', {body: {refreshToken: pair.refreshToken}})).statusCode, 204)
      assert.equal((await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: pair.refreshToken}})).statusCode, 401)
    })

    it('rejects bad, tampered and expired bearer tokens with 401', async () => {
      const pair = (await login({username: 'view', password: viewer.password}, '10.3.0.3')).json()
      const tampered = `${pair.accessToken.slice(0, -2)}xx`
      for (const token of [tampered, 'garbage', 'tth_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
        const res = await call(t.app, 'GET', '/me', {token})
        assert.equal(res.statusCode, 401, token)
      }
      const res = await call(t.app, 'GET', '/me', {headers: {authorization: 'Basic abc'}})
      assert.equal(res.statusCode, 401)
      assert.equal((await call(t.app, 'GET', '/me')).statusCode, 401)
    })

    it('says when an access token expired, and refuses one signed with another key', async () => {
      const key = jwtKey(await readFile(t.config.auth.jwtSecretFile, 'utf8'))
      const sign = (k: Uint8Array, exp: number) =>
        new SignJWT({epoch: 0}).setProtectedHeader({alg: 'HS256'}).setSubject(viewer.id).setJti('j1').setIssuer('tether').setAudience('tether-admin-api').setExpirationTime(exp).sign(k)
      const expired = await call(t.app, 'GET', '/me', {token: await sign(key, Math.floor(Date.now() / 1000) - 10)})
      assert.equal(expired.statusCode, 401)
      assert.match(expired.json().error.message, /expired/)
      const fresh = await call(t.app, 'GET', '/me', {token: await sign(key, Math.floor(Date.now() / 1000) + 60)})
      assert.equal(fresh.statusCode, 200, fresh.body)
      const forged = await call(t.app, 'GET', '/me', {token: await sign(new Uint8Array(32).fill(7), Math.floor(Date.now() / 1000) + 60)})
      assert.equal(forged.statusCode, 401)
    })

    it('limits a user who must enrol MFA to /me and /me/mfa/*, then enrolment + login works', async () => {
      const u = await seedUser(t.app, {username: 'newbie', role: 'applications-specialist', mfa: false})
      const res = await login({username: 'newbie', password: u.password}, '10.4.0.1')
      assert.equal(res.statusCode, 200, res.body)
      const pair = res.json()
      assert.equal(pair.mfaEnrollmentRequired, true)
      const me = await call(t.app, 'GET', '/me', {token: pair.accessToken})
      assert.equal(me.json().mfaEnrollmentRequired, true)
      const devices = await call(t.app, 'GET', '/devices', {token: pair.accessToken})
      assert.equal(devices.statusCode, 403)
      assert.equal(devices.json().error.code, 'MFA_ENROLLMENT_REQUIRED')
      assert.equal((await call(t.app, 'POST', '/tokens', {token: pair.accessToken, body: {name: 'x'}})).statusCode, 403)

      const enrol = await call(t.app, 'POST', '/me/mfa/enroll', {token: pair.accessToken})
      assert.equal(enrol.statusCode, 200, enrol.body)
      const {secret, otpauthUri} = enrol.json()
      assert.match(otpauthUri, /^otpauth:\/\/totp\/Tether:newbie\?/)
      // At rest the secret is sealed: only the server's key opens it, and only for this user.
      const stored = (await t.app.db.selectFrom('users').select('mfa_secret').where('id', '=', u.id).executeTakeFirstOrThrow()).mfa_secret!
      assert.ok(!stored.includes(secret), stored)
      const key = (await readMfaKey(t.config.auth.mfaKeyFile))!
      assert.match(stored, new RegExp(`^v1:${key.id}:[\\w-]+:[\\w-]+$`))
      assert.equal(openTotpSecret(key, u.id, stored), secret)
      assert.throws(() => openTotpSecret(key, engineer.id, stored), {code: 'MFA_KEY'})
      assert.throws(() => openTotpSecret({id: key.id, key: randomBytes(32), file: 'other.key'}, u.id, stored), {code: 'MFA_KEY'})
      const totp = new TOTP({issuer: 'Tether', label: 'newbie', secret: Secret.fromBase32(secret)})
      const wrong = await call(t.app, 'POST', '/me/mfa/confirm', {token: pair.accessToken, body: {code: totp.generate({timestamp: Date.now() - 3_600_000})}})
      assert.equal(wrong.statusCode, 400)
      assert.equal(wrong.json().error.field, 'body.code')
      const ok = await call(t.app, 'POST', '/me/mfa/confirm', {token: pair.accessToken, body: {code: totp.generate()}})
      assert.equal(ok.statusCode, 204, ok.body)
      // The limited session cannot be refreshed into a full one: log in again with a code.
      assert.equal((await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: pair.refreshToken}})).statusCode, 401)
      const full = await login({username: 'newbie', password: u.password, totp: totp.generate({timestamp: Date.now() + 30_000})}, '10.4.0.1')
      assert.equal(full.statusCode, 200, full.body)
      assert.equal(full.json().mfaEnrollmentRequired, false)
      assert.equal((await call(t.app, 'GET', '/devices', {token: full.json().accessToken})).statusCode, 200)
      assert.equal((await call(t.app, 'POST', '/me/mfa/enroll', {token: full.json().accessToken})).statusCode, 409)
    })

    it('names the field on bad login input', async () => {
      const cases: Array<[unknown, string]> = [
        [{username: 'a', password: 'b', extra: 1}, 'body'],
        [{username: 5, password: 'b'}, 'body.username'],
        [{username: 'a', password: 'b', totp: '12345'}, 'body.totp'],
        [{username: 'a', password: 'x'.repeat(2000)}, 'body.password'],
      ]
      for (const [body, field] of cases) {
        const res = await login(body as Record<string, unknown>, '10.5.0.1')
        assert.equal(res.statusCode, 400, JSON.stringify(body))
        assert.equal(res.json().error.field, field)
      }
    })
  })
}
