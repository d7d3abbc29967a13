import {strict as assert} from 'node:assert'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {MockAgent} from 'undici'
import type {MfaEnrollment} from '../../src/client/admin-api.js'
import {login, logout, type LoginPrompter} from '../../src/client/login.js'
import {CredentialStore} from '../../src/shared/credential-store.js'
import {ExitCode, TetherError} from '../../src/shared/errors.js'

const ORIGIN = 'https://tether.test:8443'
const P = '/api/v1'
const json = {headers: {'content-type': 'application/json'}}
const user = {id: 'u1', username: 'alice', displayName: null, role: 'service-engineer', mfaEnabled: true, disabled: false, scope: {all: false, entries: []}, createdAt: '2026-01-01T00:00:00.000Z'}
const pair = (n: number, mfaEnrollmentRequired = false) => ({accessToken: `access-${n}`, expiresIn: 900, refreshToken: `refresh-${n}`, mfaEnrollmentRequired, user})
const ENROLLMENT = {secret: 'JBSWY3DPEHPK3PXP', otpauthUri: 'otpauth://totp/Tether:alice?secret=JBSWY3DPEHPK3PXP&issuer=Tether'}

function prompter(interactive: boolean, codes: string[] = []): LoginPrompter & {asked: string[]; shown: MfaEnrollment[]} {
  const asked: string[] = []
  const shown: MfaEnrollment[] = []
  return {
    interactive,
    asked,
    shown,
    username: async () => (asked.push('username'), 'alice'),
    password: async () => (asked.push('password'), 'pw'),
    code: async (message) => (asked.push(message), codes.shift() ?? assert.fail(`unexpected prompt: ${message}`)),
    showEnrollment: async (e) => void shown.push(e),
  }
}

describe('login flow (MockAgent)', () => {
  let agent: MockAgent
  let dir: string
  let store: CredentialStore

  beforeEach(async () => {
    agent = new MockAgent()
    agent.disableNetConnect()
    dir = await mkdtemp(join(tmpdir(), 'tether-login-'))
    store = new CredentialStore({dir, prefer: 'file'})
  })
  afterEach(async () => {
    await agent.close()
    await rm(dir, {recursive: true, force: true})
  })

  const body = (b: object) => JSON.stringify(b)

  it('logs in with a password and stores the session', async () => {
    agent.get(ORIGIN).intercept({path: `${P}/auth/login`, method: 'POST', body: body({username: 'alice', password: 'pw', totp: '123456'})}).reply(200, pair(1), json)
    const out = await login({server: ORIGIN, trust: {ca: 'PEM'}, username: 'alice', password: 'pw', totp: '123456', prompter: prompter(false), store, dispatcher: agent})
    assert.equal(out.status, 'logged-in')
    const saved = await store.load()
    assert.equal(saved?.session.refreshToken, 'refresh-1')
    assert.equal(saved?.session.ca, 'PEM')
  })

  it('asks for a code on MFA_REQUIRED when interactive', async () => {
    const pool = agent.get(ORIGIN)
    pool.intercept({path: `${P}/auth/login`, method: 'POST', body: body({username: 'alice', password: 'pw'})}).reply(401, {error: {code: 'MFA_REQUIRED', message: 'code'}}, json)
    pool.intercept({path: `${P}/auth/login`, method: 'POST', body: body({username: 'alice', password: 'pw', totp: '654321'})}).reply(200, pair(1), json)
    const p = prompter(true, ['654321'])
    const out = await login({server: ORIGIN, trust: {}, prompter: p, store, dispatcher: agent})
    assert.equal(out.status, 'logged-in')
    assert.deepEqual(p.asked, ['username', 'password', 'Authenticator code'])
  })

  it('without a terminal, MFA_REQUIRED says to pass --totp', async () => {
    agent.get(ORIGIN).intercept({path: `${P}/auth/login`, method: 'POST'}).reply(401, {error: {code: 'MFA_REQUIRED', message: 'code'}}, json)
    await assert.rejects(
      login({server: ORIGIN, trust: {}, username: 'alice', password: 'pw', prompter: prompter(false), store, dispatcher: agent}),
      (e: TetherError) => e.exitCode === ExitCode.AUTH && /--totp/.test(e.message),
    )
    assert.equal(await store.load(), null)
  })

  it('says "login failed" for bad credentials', async () => {
    agent.get(ORIGIN).intercept({path: `${P}/auth/login`, method: 'POST'}).reply(401, {error: {code: 'AUTH', message: 'invalid username, password or one-time code'}}, json)
    await assert.rejects(
      login({server: ORIGIN, trust: {}, username: 'alice', password: 'pw', prompter: prompter(false), store, dispatcher: agent}),
      (e: TetherError) => e.exitCode === ExitCode.AUTH && e.message === 'login failed: invalid username, password or one-time code',
    )
  })

  it('requires --username and --password-stdin without a terminal', async () => {
    await assert.rejects(login({server: ORIGIN, trust: {}, prompter: prompter(false), store, dispatcher: agent}), (e: TetherError) => e.exitCode === ExitCode.USAGE && /--username/.test(e.message))
  })

  it('enrols MFA interactively: URI, confirm, then the next code', async () => {
    const pool = agent.get(ORIGIN)
    pool.intercept({path: `${P}/auth/login`, method: 'POST', body: body({username: 'alice', password: 'pw'})}).reply(200, pair(1, true), json)
    pool.intercept({path: `${P}/me/mfa/enroll`, method: 'POST', headers: {authorization: 'Bearer access-1'}}).reply(200, ENROLLMENT, json)
    pool.intercept({path: `${P}/me/mfa/confirm`, method: 'POST', headers: {authorization: 'Bearer access-1'}, body: body({code: '111111'})}).reply(204, '')
    pool.intercept({path: `${P}/auth/login`, method: 'POST', body: body({username: 'alice', password: 'pw', totp: '222222'})}).reply(200, pair(2), json)
    const p = prompter(true, ['111111', '222222'])
    const out = await login({server: ORIGIN, trust: {}, username: 'alice', password: 'pw', prompter: p, store, dispatcher: agent})
    assert.equal(out.status, 'logged-in')
    assert.equal(out.status === 'logged-in' && out.mfaEnrolled, true)
    assert.deepEqual(p.shown, [ENROLLMENT])
    assert.equal((await store.load())?.session.accessToken, 'access-2')
  })

  it('enrols MFA without a terminal in steps: URI first, then --totp confirms', async () => {
    const pool = agent.get(ORIGIN)
    pool.intercept({path: `${P}/auth/login`, method: 'POST'}).reply(200, pair(1, true), json)
    pool.intercept({path: `${P}/me/mfa/enroll`, method: 'POST'}).reply(200, ENROLLMENT, json)
    const first = await login({server: ORIGIN, trust: {}, username: 'alice', password: 'pw', prompter: prompter(false), store, dispatcher: agent})
    assert.deepEqual(first, {status: 'mfa-enrollment-required', server: ORIGIN, username: 'alice', otpauthUri: ENROLLMENT.otpauthUri, secret: ENROLLMENT.secret})
    assert.equal(await store.load(), null, 'a restricted session is not stored')

    pool.intercept({path: `${P}/auth/login`, method: 'POST'}).reply(200, pair(2, true), json)
    pool.intercept({path: `${P}/me/mfa/confirm`, method: 'POST', body: body({code: '333333'})}).reply(204, '')
    const second = await login({server: ORIGIN, trust: {}, username: 'alice', password: 'pw', totp: '333333', prompter: prompter(false), store, dispatcher: agent})
    assert.deepEqual(second, {status: 'mfa-enabled', server: ORIGIN, username: 'alice', mfaEnrolled: true})

    // The third run, with the next code, is the login right after the enrolment: it says so, once.
    pool.intercept({path: `${P}/auth/login`, method: 'POST', body: body({username: 'alice', password: 'pw', totp: '444444'})}).reply(200, pair(3), json)
    const third = await login({server: ORIGIN, trust: {}, username: 'alice', password: 'pw', totp: '444444', prompter: prompter(false), store, dispatcher: agent})
    assert.equal(third.status === 'logged-in' && third.mfaEnrolled, true)
    pool.intercept({path: `${P}/auth/login`, method: 'POST'}).reply(200, pair(4), json)
    const fourth = await login({server: ORIGIN, trust: {}, username: 'alice', password: 'pw', totp: '555555', prompter: prompter(false), store, dispatcher: agent})
    assert.equal(fourth.status === 'logged-in' && fourth.mfaEnrolled, false)
  })

  it('logout revokes the refresh token and forgets the session', async () => {
    await store.save({server: ORIGIN, username: 'alice', accessToken: 'a', refreshToken: 'r', savedAt: '2026-01-01T00:00:00Z'})
    agent.get(ORIGIN).intercept({path: `${P}/auth/logout`, method: 'POST', body: body({refreshToken: 'r'})}).reply(204, '')
    assert.deepEqual(await logout({store, dispatcher: agent}), {server: ORIGIN, revoked: true})
    assert.equal(await store.load(ORIGIN), null)
  })

  it('logout still forgets the session when the server is unreachable, and says so', async () => {
    await store.save({server: ORIGIN, username: 'alice', accessToken: 'a', refreshToken: 'r', savedAt: '2026-01-01T00:00:00Z'})
    agent.get(ORIGIN).intercept({path: `${P}/auth/logout`, method: 'POST'}).replyWithError(Object.assign(new Error('refused'), {code: 'ECONNREFUSED'}))
    const out = await logout({store, dispatcher: agent})
    assert.equal(out.revoked, false)
    assert.match(out.warning ?? '', /did not revoke.*connection refused/)
    assert.equal(await store.load(ORIGIN), null)
  })
})
