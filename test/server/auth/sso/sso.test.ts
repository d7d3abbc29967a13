import {strict as assert} from 'node:assert'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Secret} from 'otpauth'
import {setSso} from '../../../../src/server/auth/sso/admin.js'
import {CLIENT_SECRET_BINDING, type SsoPolicy} from '../../../../src/server/auth/sso/settings.js'
import {auditEvents, buildTestApp, call, seedUser, type TestApp, totpCode} from '../../helpers/app.js'
import {DB_KINDS} from '../../helpers/database.js'
import {CLIENT_ID, CLIENT_SECRET, TestIdp} from './test-idp.js'

/** A few chai-like assertions over node:assert, so the expectations read left to right. */
function expect(actual: unknown, message?: string) {
  return {
    to: {
      equal: (expected: unknown) => assert.equal(actual, expected, message),
      deep: {equal: (expected: unknown) => assert.deepEqual(actual, expected, message)},
      have: {length: (n: number) => assert.equal((actual as unknown[]).length, n, message)},
      not: {equal: (expected: unknown) => assert.notEqual(actual, expected, message)},
      match: (re: RegExp) => assert.match(String(actual), re, message),
    },
  }
}

const REDIRECT = 'http://127.0.0.1:49152/callback'

for (const kind of DB_KINDS) {
  describe(`SSO with a real OpenID provider on loopback (${kind})`, function () {
    this.timeout(60_000)
    let idp: TestIdp
    let t: TestApp

    async function configure(policy: Partial<SsoPolicy> = {}): Promise<void> {
      const secretFile = join(t.config.dataDir, 'sso.secret')
      await writeFile(secretFile, `${CLIENT_SECRET}\n`)
      await setSso({db: t.app.db, dialect: t.app.dbDialect, close: async () => undefined}, t.config, {
        issuer: idp.issuer,
        clientId: CLIENT_ID,
        clientSecretFile: secretFile,
        issuerCaFile: idp.caFile,
        groupRoles: [
          {group: 'Service Engineers', role: 'service-engineer'},
          {group: 'Auditors', role: 'auditor'},
        ],
        groupScopes: [{group: 'Service Engineers', all: false, customer: 'st-mary', site: null}],
        ...policy,
      })
    }

    /** The whole sign-in as the CLI drives it: start, browser at the IdP, callback forwarded. */
    async function signIn(as: string, tamper: (callbackUrl: string) => string = (u) => u) {
      const start = await call(t.app, 'POST', '/auth/sso/start', {body: {redirectUri: REDIRECT}})
      expect(start.statusCode, start.body).to.equal(200)
      const {loginId, authorizationUrl} = start.json() as {loginId: string; authorizationUrl: string}
      const callbackUrl = tamper(await idp.browse(authorizationUrl, as))
      const response = await call(t.app, 'POST', '/auth/sso/callback', {body: {loginId, callbackUrl}})
      return {response, loginId, callbackUrl}
    }

    async function failureReasons(): Promise<string[]> {
      const events = (await auditEvents(t.app, 'sso.login')).filter((e) => e.outcome === 'failure')
      if (process.env.DEBUG_SSO) console.log(events.map((e) => e.details))
      return events.map((e) => String((JSON.parse(e.details) as {reason: string}).reason))
    }

    before(async () => {
      idp = await TestIdp.start()
    })
    after(async () => {
      await idp.stop()
    })
    beforeEach(async () => {
      idp.users.clear()
      idp.mutateIdToken = undefined
      idp.addUser({sub: 'alice-sub', username: 'alice', groups: ['Service Engineers', 'Unrelated'], amr: ['pwd', 'mfa']})
      idp.addUser({sub: 'bob-sub', username: 'bob', groups: ['Auditors'], amr: ['pwd']})
      idp.addUser({sub: 'carol-sub', username: 'carol', groups: ['Service Engineers'], amr: ['pwd']})
      idp.addUser({sub: 'dave-sub', username: 'dave', groups: ['Marketing'], amr: ['pwd', 'mfa']})
      t = await buildTestApp(kind)
      await t.app.db.insertInto('customers').values({id: 'st-mary', name: 'St Mary', created_at: new Date().toISOString()}).execute()
      await configure()
    })
    afterEach(async () => {
      await t.close()
    })

    it('refuses a redirect URI that is no URL at all with a 400 naming it (found by the API fuzz: it was a 500)', async () => {
      for (const redirectUri of [' ', 'not a url', 'https://127.0.0.1/callback']) {
        const res = await call(t.app, 'POST', '/auth/sso/start', {body: {redirectUri}})
        assert.equal(res.statusCode, 400, res.body)
        assert.match(res.body, /redirectUri/)
      }
    })

    it('first sign-in creates the user with the mapped role and scope; the session works', async () => {
      const {response} = await signIn('alice-sub')
      expect(response.statusCode, response.body).to.equal(200)
      const pair = response.json() as {accessToken: string; mfaEnrollmentRequired: boolean; user: {username: string; role: string; scope: unknown}}
      expect(pair.user.username).to.equal('alice')
      expect(pair.user.role).to.equal('service-engineer')
      expect(pair.user.scope).to.deep.equal({all: false, entries: [{customer: 'st-mary', site: null}]})
      // The IdP showed MFA (amr "mfa"): no Tether TOTP enrolment is demanded.
      expect(pair.mfaEnrollmentRequired).to.equal(false)
      const me = await call(t.app, 'GET', '/me', {token: pair.accessToken})
      expect(me.statusCode, me.body).to.equal(200)
      expect((await auditEvents(t.app, 'sso.user.created')).length).to.equal(1)
      const login = await auditEvents(t.app, 'sso.login')
      expect(login.map((e) => e.outcome)).to.deep.equal(['success'])
      const link = await t.app.db.selectFrom('sso_identities').selectAll().executeTakeFirstOrThrow()
      expect([link.issuer, link.subject]).to.deep.equal([idp.issuer, 'alice-sub'])
    })

    it('a second sign-in reuses the user; a group change at the IdP changes the role and is audited', async () => {
      expect((await signIn('alice-sub')).response.statusCode).to.equal(200)
      idp.users.get('alice-sub')!.groups = ['Auditors']
      const {response} = await signIn('alice-sub')
      expect(response.statusCode, response.body).to.equal(200)
      expect((response.json() as {user: {role: string}}).user.role).to.equal('auditor')
      expect(await t.app.db.selectFrom('users').select('id').execute()).to.have.length(1)
      expect((await auditEvents(t.app, 'sso.user.groups-changed')).length).to.equal(1)
    })

    it('group removed at the IdP: the next refresh refuses, the user is disabled and the access token stops', async () => {
      const pair = (await signIn('alice-sub')).response.json() as {accessToken: string; refreshToken: string}
      const first = await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: pair.refreshToken}})
      expect(first.statusCode, first.body).to.equal(200)
      const next = first.json() as {accessToken: string; refreshToken: string}
      idp.users.get('alice-sub')!.groups = ['Unrelated']
      const refused = await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: next.refreshToken}})
      expect(refused.statusCode, refused.body).to.equal(401)
      expect((refused.json() as {error: {code: string}}).error.code).to.equal('SSO_REFUSED')
      expect((await call(t.app, 'GET', '/me', {token: next.accessToken})).statusCode).to.equal(401)
      const user = await t.app.db.selectFrom('users').selectAll().where('username', '=', 'alice').executeTakeFirstOrThrow()
      expect(user.disabled_at).to.not.equal(null)
      expect((await auditEvents(t.app, 'sso.user.deprovisioned')).length).to.equal(1)
      // Back in the group: the next sign-in enables the user again.
      idp.users.get('alice-sub')!.groups = ['Service Engineers']
      expect((await signIn('alice-sub')).response.statusCode).to.equal(200)
      expect((await auditEvents(t.app, 'sso.user.reprovisioned')).length).to.equal(1)
    })

    it('user deleted at the IdP: the next refresh refuses and the session ends', async () => {
      const pair = (await signIn('alice-sub')).response.json() as {accessToken: string; refreshToken: string}
      idp.users.delete('alice-sub')
      const refused = await call(t.app, 'POST', '/auth/refresh', {body: {refreshToken: pair.refreshToken}})
      expect(refused.statusCode, refused.body).to.equal(401)
      expect((await call(t.app, 'GET', '/me', {token: pair.accessToken})).statusCode).to.equal(401)
      expect((await auditEvents(t.app, 'sso.session.ended')).length).to.equal(1)
    })

    it('stores the client secret sealed: the row holds no plaintext, and it opens only with the MFA key and its binding', async () => {
      const row = await t.app.db.selectFrom('sso_settings').select('client_secret').executeTakeFirstOrThrow()
      for (const form of [CLIENT_SECRET, Buffer.from(CLIENT_SECRET).toString('base64'), Buffer.from(CLIENT_SECRET).toString('hex')]) {
        expect(row.client_secret.includes(form), `stored row contains the secret as ${form}`).to.equal(false)
      }
      expect(t.app.mfaSecrets.open({id: CLIENT_SECRET_BINDING, mfa_secret: row.client_secret})).to.equal(CLIENT_SECRET)
      // Bound to its purpose: the same sealed value does not open as a user's TOTP secret.
      assert.throws(() => t.app.mfaSecrets.open({id: 'some-user-id', mfa_secret: row.client_secret}), (error: {code?: string}) => error.code === 'MFA_KEY')
      // And the sign-in (which needs the secret at the IdP's token endpoint) works with it.
      expect((await signIn('alice-sub')).response.statusCode).to.equal(200)
    })

    it('never takes over a local account of the same name: refused, and the local account is unchanged', async () => {
      const local = await seedUser(t.app, {username: 'alice', role: 'viewer', mfa: false})
      const before = await t.app.db.selectFrom('users').selectAll().where('username', '=', 'alice').executeTakeFirstOrThrow()
      const {response} = await signIn('alice-sub')
      expect(response.statusCode, response.body).to.equal(401)
      expect((response.json() as {error: {message: string}}).error.message).to.match(/a local account "alice" already exists/)
      expect(await t.app.db.selectFrom('sso_identities').select('user_id').execute()).to.have.length(0)
      expect(await t.app.db.selectFrom('users').selectAll().where('username', '=', 'alice').executeTakeFirstOrThrow()).to.deep.equal(before)
      expect(await failureReasons()).to.deep.equal(['username-taken'])
      const login = await call(t.app, 'POST', '/auth/login', {body: {username: 'alice', password: local.password}})
      expect(login.statusCode, login.body).to.equal(200)
    })

    it('no mapped group: a clear refusal, audited, and no user is created', async () => {
      const {response} = await signIn('dave-sub')
      expect(response.statusCode).to.equal(401)
      expect((response.json() as {error: {message: string}}).error.message).to.match(/no group that Tether maps/)
      expect(await failureReasons()).to.deep.equal(['no-mapped-group'])
      expect(await t.app.db.selectFrom('users').select('id').execute()).to.have.length(0)
    })

    it('no MFA claim: a device-reaching role must enrol TOTP, then is asked for it at sign-in', async () => {
      const first = (await signIn('carol-sub')).response.json() as {mfaEnrollmentRequired: boolean; user: {id: string}}
      expect(first.mfaEnrollmentRequired).to.equal(true)
      const secret = new Secret({size: 20}).base32
      await t.app.db.updateTable('users').set({mfa_secret: t.app.mfaSecrets.seal(first.user.id, secret), mfa_enabled: 1}).where('id', '=', first.user.id).execute()
      const {response, loginId} = await signIn('carol-sub')
      expect(response.statusCode).to.equal(401)
      expect((response.json() as {error: {code: string}}).error.code).to.equal('MFA_REQUIRED')
      const wrong = await call(t.app, 'POST', '/auth/sso/totp', {body: {loginId, totp: '000000'}})
      expect(wrong.statusCode).to.equal(401)
      const ok = await call(t.app, 'POST', '/auth/sso/totp', {body: {loginId, totp: totpCode({username: 'carol', totpSecret: secret})}})
      expect(ok.statusCode, ok.body).to.equal(200)
      expect((ok.json() as {mfaEnrollmentRequired: boolean}).mfaEnrollmentRequired).to.equal(false)
      // A read-only role without MFA is fine unless the policy requires MFA of everyone.
      expect(((await signIn('bob-sub')).response.json() as {mfaEnrollmentRequired: boolean}).mfaEnrollmentRequired).to.equal(false)
    })

    it('state mismatch, replayed callback and replayed code are refused and audited', async () => {
      const mismatch = await signIn('alice-sub', (u) => u.replace(/state=[^&]+/, 'state=forged'))
      expect(mismatch.response.statusCode).to.equal(401)
      const good = await signIn('alice-sub')
      expect(good.response.statusCode).to.equal(200)
      const again = await call(t.app, 'POST', '/auth/sso/callback', {body: {loginId: good.loginId, callbackUrl: good.callbackUrl}})
      expect(again.statusCode).to.equal(401)
      // The used code under a fresh sign-in (its own state): the IdP refuses the code.
      const fresh = (await call(t.app, 'POST', '/auth/sso/start', {body: {redirectUri: REDIRECT}})).json() as {loginId: string; authorizationUrl: string}
      const freshState = new URL(fresh.authorizationUrl).searchParams.get('state')!
      const replayed = await call(t.app, 'POST', '/auth/sso/callback', {body: {loginId: fresh.loginId, callbackUrl: good.callbackUrl.replace(/state=[^&]+/, `state=${freshState}`)}})
      expect(replayed.statusCode).to.equal(401)
      const reasons = await failureReasons()
      expect(reasons).to.have.length(3)
      expect(reasons[0]).to.equal('state-mismatch')
      expect(reasons[1]).to.equal('replayed')
      expect(reasons[2]).to.match(/^idp:invalid_grant$/)
    })

    it('an ID token with a bad signature, a wrong issuer or past its expiry is refused and audited', async () => {
      const forge = async (token: string, change: Record<string, unknown>) => idp.sign({...TestIdp.claimsOf(token), ...change})
      const cases: Array<(token: string) => Promise<string>> = [
        async (token) => `${token.slice(0, -6)}${token.slice(-6) === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA'}`,
        (token) => forge(token, {iss: 'https://evil.example'}),
        (token) => forge(token, {exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200}),
      ]
      for (const mutate of cases) {
        idp.mutateIdToken = mutate
        const {response} = await signIn('alice-sub')
        expect(response.statusCode, response.body).to.equal(401)
      }
      const reasons = await failureReasons()
      expect(reasons).to.have.length(3)
      expect(reasons).to.deep.equal(['bad-signature', 'wrong-issuer', 'expired'])
      expect(await t.app.db.selectFrom('users').select('id').execute()).to.have.length(0)
    })

    it('SSO-only: password logins are refused except for the break-glass admin', async () => {
      const admin = await seedUser(t.app, {username: 'admin', role: 'admin'})
      const local = await seedUser(t.app, {username: 'localbob', role: 'viewer', mfa: false})
      await configure({ssoOnly: true, breakGlass: ['admin']})
      const ok = await call(t.app, 'POST', '/auth/login', {body: {username: admin.username, password: admin.password, totp: totpCode(admin)}})
      expect(ok.statusCode, ok.body).to.equal(200)
      const refused = await call(t.app, 'POST', '/auth/login', {body: {username: local.username, password: local.password}})
      expect(refused.statusCode).to.equal(401)
      expect((refused.json() as {error: {code: string}}).error.code).to.equal('SSO_REQUIRED')
    })
  })
}
