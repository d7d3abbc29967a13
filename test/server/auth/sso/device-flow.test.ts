import {strict as assert} from 'node:assert'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Secret} from 'otpauth'
import {setSso} from '../../../../src/server/auth/sso/admin.js'
import {sweepExpiredSsoLogins} from '../../../../src/server/auth/sso/sso-sessions.js'
import {auditEvents, buildTestApp, call, type TestApp, totpCode} from '../../helpers/app.js'
import {DB_KINDS} from '../../helpers/database.js'
import {CLIENT_ID, CLIENT_SECRET, TestIdp} from './test-idp.js'

interface DeviceStart {
  loginId: string
  userCode: string
  verificationUri: string
  verificationUriComplete: string | null
  interval: number
}

for (const kind of DB_KINDS) {
  describe(`SSO device authorization grant, TOTP throttle and sweep (${kind})`, function () {
    this.timeout(60_000)
    let idp: TestIdp
    let t: TestApp

    async function configure(target: TestIdp): Promise<void> {
      const secretFile = join(t.config.dataDir, 'sso.secret')
      await writeFile(secretFile, `${CLIENT_SECRET}\n`)
      await setSso({db: t.app.db, dialect: t.app.dbDialect, close: async () => undefined}, t.config, {
        issuer: target.issuer,
        clientId: CLIENT_ID,
        clientSecretFile: secretFile,
        issuerCaFile: target.caFile,
        groupRoles: [{group: 'Service Engineers', role: 'service-engineer'}],
        groupScopes: [{group: 'Service Engineers', all: true, customer: null, site: null}],
      })
    }

    async function startDevice(): Promise<DeviceStart> {
      const start = await call(t.app, 'POST', '/auth/sso/device/start', {body: {}})
      assert.equal(start.statusCode, 200, start.body)
      return start.json() as DeviceStart
    }

    const poll = (loginId: string) => call(t.app, 'POST', '/auth/sso/device/poll', {body: {loginId}})

    before(async () => {
      idp = await TestIdp.start()
    })
    after(async () => {
      await idp.stop()
    })
    beforeEach(async () => {
      idp.users.clear()
      idp.addUser({sub: 'alice-sub', username: 'alice', groups: ['Service Engineers'], amr: ['pwd', 'mfa']})
      idp.addUser({sub: 'carol-sub', username: 'carol', groups: ['Service Engineers'], amr: ['pwd']})
      t = await buildTestApp(kind, {config: (c) => (c.auth.lockoutThreshold = 2)})
      await configure(idp)
    })
    afterEach(async () => {
      await t.close()
    })

    it('pending until the code is confirmed at the IdP, then signed in with the mapped role; the login cannot be polled again', async () => {
      const start = await startDevice()
      assert.match(start.userCode, /\S/)
      assert.equal(start.verificationUri, `${idp.issuer}/device`)
      assert.ok(start.verificationUriComplete)
      const pending = await poll(start.loginId)
      assert.equal(pending.statusCode, 200, pending.body)
      assert.equal((pending.json() as {status: string}).status, 'pending')
      await idp.browseDevice(start.verificationUriComplete, 'alice-sub')
      const done = await poll(start.loginId)
      assert.equal(done.statusCode, 200, done.body)
      const answer = done.json() as {status: string; tokens: {accessToken: string; user: {username: string; role: string}; mfaEnrollmentRequired: boolean}}
      assert.equal(answer.status, 'signed-in')
      assert.equal(answer.tokens.user.username, 'alice')
      assert.equal(answer.tokens.user.role, 'service-engineer')
      assert.equal(answer.tokens.mfaEnrollmentRequired, false)
      assert.equal((await call(t.app, 'GET', '/me', {token: answer.tokens.accessToken})).statusCode, 200)
      const again = await poll(start.loginId)
      assert.equal(again.statusCode, 401)
      const outcomes = (await auditEvents(t.app, 'sso.login')).map((e) => [e.outcome, (JSON.parse(e.details) as {reason?: string}).reason])
      assert.deepEqual(outcomes, [['success', undefined], ['failure', 'replayed']])
    })

    it('denied at the IdP: refused and audited as idp:access_denied', async () => {
      const start = await startDevice()
      await idp.browseDevice(start.verificationUriComplete!, 'alice-sub', {abort: true})
      const refused = await poll(start.loginId)
      assert.equal(refused.statusCode, 401, refused.body)
      assert.equal((refused.json() as {error: {code: string}}).error.code, 'SSO_REFUSED')
      const [event] = await auditEvents(t.app, 'sso.login')
      assert.equal((JSON.parse(event.details) as {reason: string}).reason, 'idp:access_denied')
    })

    it('a code-flow callback for a device login id is refused', async () => {
      const start = await startDevice()
      const r = await call(t.app, 'POST', '/auth/sso/callback', {body: {loginId: start.loginId, callbackUrl: 'http://127.0.0.1:1/callback?code=x&state=y'}})
      assert.equal(r.statusCode, 401)
    })

    it('an IdP without a device endpoint: 400 naming --device', async () => {
      const plain = await TestIdp.start({deviceFlow: false})
      try {
        await configure(plain)
        const r = await call(t.app, 'POST', '/auth/sso/device/start', {body: {}})
        assert.equal(r.statusCode, 400, r.body)
        assert.match((r.json() as {error: {message: string}}).error.message, /^--device: the identity provider \(https:\/\/127\.0\.0\.1:\d+\) offers no device authorization grant/)
      } finally {
        await plain.stop()
      }
    })

    it("the TOTP step counts against the shared login throttle: the lockout holds the right code too", async () => {
      // carol's IdP shows no MFA: a device-reaching role needs Tether's TOTP.
      const first = await startDevice()
      await idp.browseDevice(first.verificationUriComplete!, 'carol-sub')
      const enrol = (await poll(first.loginId)).json() as {tokens: {user: {id: string}; mfaEnrollmentRequired: boolean}}
      assert.equal(enrol.tokens.mfaEnrollmentRequired, true)
      const secret = new Secret({size: 20}).base32
      await t.app.db.updateTable('users').set({mfa_secret: t.app.mfaSecrets.seal(enrol.tokens.user.id, secret), mfa_enabled: 1}).where('id', '=', enrol.tokens.user.id).execute()

      const start = await startDevice()
      await idp.browseDevice(start.verificationUriComplete!, 'carol-sub')
      const asked = await poll(start.loginId)
      assert.equal(asked.statusCode, 401)
      assert.equal((asked.json() as {error: {code: string}}).error.code, 'MFA_REQUIRED')
      for (let i = 0; i < 2; i++) assert.equal((await call(t.app, 'POST', '/auth/sso/totp', {body: {loginId: start.loginId, totp: '000000'}})).statusCode, 401)
      const locked = await call(t.app, 'POST', '/auth/sso/totp', {body: {loginId: start.loginId, totp: totpCode({username: 'carol', totpSecret: secret})}})
      assert.equal(locked.statusCode, 423, locked.body)
      assert.equal((locked.json() as {error: {code: string}}).error.code, 'LOCKED')
      assert.equal((await auditEvents(t.app, 'auth.lockout')).length, 1)
    })

    it('the sweep deletes expired sign-ins and keeps live ones', async () => {
      await startDevice()
      await startDevice()
      const [row] = await t.app.db.selectFrom('sso_logins').select('id').execute()
      await t.app.db.updateTable('sso_logins').set({expires_at: new Date(Date.now() - 1000).toISOString()}).where('id', '=', row.id).execute()
      assert.equal(await sweepExpiredSsoLogins(t.app.db), 1)
      assert.equal((await t.app.db.selectFrom('sso_logins').select('id').execute()).length, 1)
    })
  })
}
