import {strict as assert} from 'node:assert'
import {stat} from 'node:fs/promises'
import {Secret} from 'otpauth'
import {readMfaKey} from '../../../src/server/auth/mfa-key.js'
import {openTotpSecret} from '../../../src/server/auth/mfa-secret.js'
import {insertUser, prepareUser} from '../../../src/server/users/service.js'
import {buildTestApp, call, seedUser, type SeededUser, type TestApp, totpCode} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

const PASSWORD = 'Pw-legacy-0123456789'

for (const kind of DB_KINDS) {
  describe(`routes/auth: TOTP secrets at rest (${kind})`, () => {
    let t: TestApp
    let eng: SeededUser
    let mallory: SeededUser
    const logs: string[] = []
    const legacySecret = new Secret({size: 20}).base32
    let legacyId = ''

    before(async () => {
      t = await buildTestApp(kind, {
        log: {level: 'error', stream: {write: (line) => logs.push(line)}},
        // A row as an older tether left it: the base32 secret in clear, in a data dir without a key.
        async beforeStart(db) {
          const user = await insertUser(db, await prepareUser({username: 'legacy', role: 'service-engineer', password: PASSWORD}))
          await db.updateTable('users').set({mfa_secret: legacySecret, mfa_enabled: 1}).where('id', '=', user.id).execute()
          legacyId = user.id
        },
      })
      eng = await seedUser(t.app, {username: 'eng', role: 'service-engineer'})
      mallory = await seedUser(t.app, {username: 'mallory', role: 'service-engineer'})
    })
    after(async () => t?.close())

    const login = (user: Pick<SeededUser, 'username' | 'password'>, totp: string, ip: string) => call(t.app, 'POST', '/auth/login', {body: {username: user.username, password: user.password, totp}, ip})
    const stored = async (id: string) => (await t.app.db.selectFrom('users').select('mfa_secret').where('id', '=', id).executeTakeFirstOrThrow()).mfa_secret!
    const setStored = (id: string, value: string) => t.app.db.updateTable('users').set({mfa_secret: value}).where('id', '=', id).execute()

    it('sealed the plaintext secret of an older data dir at start, with a new 0600 key, and its user still logs in', async () => {
      assert.equal((await stat(t.config.auth.mfaKeyFile)).mode & 0o777, 0o600)
      const key = (await readMfaKey(t.config.auth.mfaKeyFile))!
      const value = await stored(legacyId)
      assert.match(value, new RegExp(`^v1:${key.id}:`))
      assert.equal(openTotpSecret(key, legacyId, value), legacySecret)
      const res = await login({username: 'legacy', password: PASSWORD}, totpCode({username: 'legacy', totpSecret: legacySecret}), '10.7.0.1')
      assert.equal(res.statusCode, 200, res.body)
    })

    it('refuses a sealed secret copied from another user with a 500 that hides the cause and logs it', async () => {
      const own = await stored(mallory.id)
      logs.length = 0
      await setStored(mallory.id, await stored(eng.id))
      try {
        // Mallory knows eng's codes; with eng's sealed secret on her row they must not let her in.
        const res = await login(mallory, totpCode(eng), '10.7.0.2')
        assert.equal(res.statusCode, 500, res.body)
        const body = res.json()
        assert.equal(body.error.code, 'MFA_KEY')
        assert.match(body.error.message, /cannot check one-time codes for this account/)
        assert.doesNotMatch(res.body, new RegExp(`${mallory.id}|${t.config.dataDir}|    at `))
        assert.ok(!('accessToken' in body))
        const logged = logs.map((line) => JSON.parse(line) as {err?: {message?: string}}).find((l) => l.err?.message?.includes(mallory.id))
        assert.ok(logged, logs.join('\n'))
        assert.match(logged.err!.message!, /does not authenticate under MFA key .* copied from another user/)
      } finally {
        await setStored(mallory.id, own)
      }
    })

    it('refuses an altered ciphertext the same way, counts no failed login, and works again once restored', async () => {
      const own = await stored(mallory.id)
      const [v, id, iv, body] = own.split(':')
      const bytes = Buffer.from(body, 'base64url')
      bytes[2] ^= 0x80
      await setStored(mallory.id, [v, id, iv, bytes.toString('base64url')].join(':'))
      const res = await login(mallory, totpCode(mallory), '10.7.0.3')
      assert.equal(res.statusCode, 500, res.body)
      assert.equal(res.json().error.code, 'MFA_KEY')
      // A server-side key problem is not the user's failed attempt: no back-off, no lockout.
      const throttled = await t.app.db.selectFrom('login_throttle').select('key').where('key', '=', 'user:mallory').executeTakeFirst()
      assert.equal(throttled, undefined)

      await setStored(mallory.id, own)
      const ok = await login(mallory, totpCode(mallory, 1), '10.7.0.3')
      assert.equal(ok.statusCode, 200, ok.body)
    })

    it('refuses a plaintext secret written after start instead of using it', async () => {
      const own = await stored(eng.id)
      await setStored(eng.id, eng.totpSecret!)
      try {
        const res = await login(eng, totpCode(eng), '10.7.0.4')
        assert.equal(res.statusCode, 500, res.body)
        assert.equal(res.json().error.code, 'MFA_KEY')
      } finally {
        await setStored(eng.id, own)
      }
    })
  })
}
