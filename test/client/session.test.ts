import {strict as assert} from 'node:assert'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {MockAgent} from 'undici'
import {openApi, resolveSession} from '../../src/client/session.js'
import {CredentialStore} from '../../src/shared/credential-store.js'
import {ExitCode, TetherError} from '../../src/shared/errors.js'
import {createTestPki} from './tls-fixture.js'

const A = 'https://a.test:8443'
const B = 'https://b.test:8443'
const saved = (server: string, n = 1) => ({server, username: 'alice', accessToken: `access-${n}`, refreshToken: `refresh-${n}`, ca: `CA-${server}`, savedAt: '2026-01-01T00:00:00Z'})
const user = {id: 'u1', username: 'alice', displayName: null, role: 'admin', mfaEnabled: true, disabled: false, scope: {all: true, entries: []}, createdAt: '2026-01-01T00:00:00.000Z'}
const json = {headers: {'content-type': 'application/json'}}

describe('client sessions (each test with its own file credential store)', () => {
  let dir: string
  let store: CredentialStore
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-session-'))
    store = new CredentialStore({dir, prefer: 'file'})
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  describe('session resolution', () => {

    it('is "not logged in" (exit 3) without a session', async () => {
      await assert.rejects(resolveSession({store, env: {}}), (e: TetherError) => e.exitCode === ExitCode.AUTH && e.code === 'NOT_LOGGED_IN')
    })

    it('uses the current server, or the one TETHER_SERVER names', async () => {
      await store.save(saved(A))
      await store.save(saved(B)) // B is current now
      assert.equal((await resolveSession({store, env: {}})).server, B)
      const a = await resolveSession({store, env: {TETHER_SERVER: `${A}/`}})
      assert.equal(a.server, A)
      assert.equal(a.trust.ca, `CA-${A}`)
      assert.equal(a.source, 'file')
    })

    it('TETHER_TOKEN wins over a stored session and needs a server', async () => {
      await assert.rejects(resolveSession({store, env: {TETHER_TOKEN: 'tth_x'}}), (e: TetherError) => e.exitCode === ExitCode.USAGE && /TETHER_SERVER/.test(e.message))
      await store.save(saved(A))
      const s = await resolveSession({store, env: {TETHER_TOKEN: 'tth_x'}})
      assert.deepEqual([s.server, s.source, s.accessToken, s.refreshToken, s.trust.ca], [A, 'env', 'tth_x', undefined, `CA-${A}`])
    })

    it('TETHER_CA replaces the stored trust and is checked', async () => {
      const pki = await createTestPki()
      await writeFile(join(dir, 'ca.pem'), pki.caPem)
      const s = await resolveSession({store, env: {TETHER_TOKEN: 't', TETHER_SERVER: A, TETHER_CA: join(dir, 'ca.pem')}})
      assert.equal(s.trust.ca, pki.caPem)
      await writeFile(join(dir, 'bad.pem'), 'nope')
      await assert.rejects(resolveSession({store, env: {TETHER_TOKEN: 't', TETHER_SERVER: A, TETHER_CA: join(dir, 'bad.pem')}}), /TETHER_CA: .* is not a PEM certificate/)
    })

    it('writes refreshed tokens back without changing the current server', async () => {
      await store.save(saved(A))
      await store.save(saved(B))
      const agent = new MockAgent()
      agent.disableNetConnect()
      const pool = agent.get(A)
      pool.intercept({path: '/api/v1/me', method: 'GET'}).reply(401, {error: {code: 'AUTH', message: 'expired'}}, json)
      pool.intercept({path: '/api/v1/auth/refresh', method: 'POST'}).reply(200, {accessToken: 'access-9', expiresIn: 900, refreshToken: 'refresh-9', mfaEnrollmentRequired: false, user}, json)
      pool.intercept({path: '/api/v1/me', method: 'GET', headers: {authorization: 'Bearer access-9'}}).reply(200, {user, permissions: [], auth: 'session', mfaEnrollmentRequired: false}, json)
      try {
        const {api} = await openApi({store, env: {TETHER_SERVER: A}, dispatcher: agent})
        await api.me()
      } finally {
        await agent.close()
      }
      const after = await store.load(A)
      assert.equal(after?.session.refreshToken, 'refresh-9')
      assert.equal(after?.session.ca, `CA-${A}`)
      assert.equal((await store.settings()).currentServer, B)
    })
  })

  describe('refresh between processes', () => {
    it('uses tokens another process refreshed instead of spending the old refresh token', async () => {
      await store.save(saved(A, 1))
      const agent = new MockAgent()
      agent.disableNetConnect()
      const pool = agent.get(A)
      pool.intercept({path: '/api/v1/me', method: 'GET', headers: {authorization: 'Bearer access-1'}}).reply(401, {error: {code: 'AUTH', message: 'expired'}}, json)
      pool.intercept({path: '/api/v1/me', method: 'GET', headers: {authorization: 'Bearer access-2'}}).reply(200, {user, permissions: [], auth: 'session', mfaEnrollmentRequired: false}, json)
      try {
        const {api} = await openApi({store, env: {}, dispatcher: agent})
        // Another tether process refreshes while this one is running.
        await store.save(saved(A, 2))
        await api.me()
        assert.equal(api.client.refreshToken, 'refresh-2')
      } finally {
        await agent.close()
      }
    })

    it('waits for a held refresh lock', async () => {
      const {withFileLock} = await import('../../src/client/file-lock.js')
      const order: string[] = []
      const lock = join(dir, 'refresh.lock')
      await Promise.all([
        withFileLock(lock, async () => {
          order.push('a-start')
          await new Promise((resolve) => setTimeout(resolve, 150))
          order.push('a-end')
        }),
        new Promise((resolve) => setTimeout(resolve, 20)).then(() => withFileLock(lock, async () => void order.push('b'))),
      ])
      assert.deepEqual(order, ['a-start', 'a-end', 'b'])
    })
  })
})
