import {strict as assert} from 'node:assert'
import {mkdtemp, readdir, readFile, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import {MockAgent} from 'undici'
import {AdminApi} from '../../src/client/admin-api.js'
import {ApiClient, normalizeServerUrl} from '../../src/client/api-client.js'
import {ExitCode, TetherError} from '../../src/shared/errors.js'

const ORIGIN = 'https://tether.test:8443'
const P = '/api/v1'

const user = {
  id: 'u1',
  username: 'alice',
  displayName: null,
  role: 'admin',
  mfaEnabled: true,
  disabled: false,
  scope: {all: true, entries: []},
  createdAt: '2026-01-01T00:00:00.000Z',
}
const pair = (n: number) => ({accessToken: `access-${n}`, expiresIn: 900, refreshToken: `refresh-${n}`, mfaEnrollmentRequired: false, user})
const json = {headers: {'content-type': 'application/json'}}

async function rejects(promise: Promise<unknown>, exitCode: number, pattern?: RegExp): Promise<TetherError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof TetherError, `expected a TetherError, got ${error}`)
    assert.equal(error.exitCode, exitCode, error.message)
    if (pattern) assert.match(error.message, pattern)
    return error
  }
  assert.fail('expected a rejection')
}

describe('ApiClient (MockAgent)', () => {
  let agent: MockAgent
  let api: AdminApi
  let refreshed: unknown[]

  beforeEach(() => {
    agent = new MockAgent()
    agent.disableNetConnect()
    refreshed = []
    const client = new ApiClient({
      server: ORIGIN,
      accessToken: 'access-0',
      refreshToken: 'refresh-0',
      dispatcher: agent,
      onRefresh: async (p) => void refreshed.push(p),
    })
    api = new AdminApi(client)
  })
  afterEach(async () => {
    await agent.close()
  })

  it('sends the bearer token and validates the answer', async () => {
    agent
      .get(ORIGIN)
      .intercept({path: `${P}/users`, method: 'GET', headers: {authorization: 'Bearer access-0'}})
      .reply(200, {users: [user]}, json)
    const users = await api.listUsers()
    assert.equal(users[0].username, 'alice')
  })

  it('encodes query parameters and skips undefined ones', async () => {
    agent.get(ORIGIN).intercept({path: `${P}/sites?customer=acme`, method: 'GET'}).reply(200, {sites: []}, json)
    assert.deepEqual(await api.listSites('acme'), [])
    agent.get(ORIGIN).intercept({path: `${P}/sites`, method: 'GET'}).reply(200, {sites: []}, json)
    assert.deepEqual(await api.listSites(), [])
  })

  it('checks the request body before sending and names the field', async () => {
    const error = await rejects(api.createCustomer({id: 'Not A Slug', name: 'x'}), ExitCode.USAGE, /^id: /)
    assert.equal(error.details?.field, 'id')
  })

  it('maps a 400 to UsageError naming the field', async () => {
    agent.get(ORIGIN).intercept({path: `${P}/customers`, method: 'POST'}).reply(400, {error: {code: 'VALIDATION', message: 'too long', field: 'body.name'}}, json)
    const error = await rejects(api.createCustomer({id: 'acme', name: 'x'}), ExitCode.USAGE, /^--name: too long$/)
    assert.equal(error.details?.field, 'body.name')
  })

  const cases: Array<[number, number, RegExp, Record<string, string>?]> = [
    [403, ExitCode.FORBIDDEN, /forbidden/],
    [404, ExitCode.NOT_FOUND, /no such/],
    [409, ExitCode.CONFLICT, /no such/],
    [423, ExitCode.AUTH, /account locked/],
    [429, ExitCode.RATE_LIMITED, /retry after 17s/, {'retry-after': '17'}],
    [500, ExitCode.UNAVAILABLE, /server error \(HTTP 500\)/],
    [503, ExitCode.UNAVAILABLE, /HTTP 503/],
  ]
  for (const [status, exit, pattern, headers] of cases) {
    it(`maps HTTP ${status} to exit ${exit}`, async () => {
      agent
        .get(ORIGIN)
        .intercept({path: `${P}/devices/SN-1`, method: 'GET'})
        .reply(status, {error: {code: 'X', message: 'no such thing'}}, {headers: {'content-type': 'application/json', ...headers}})
      await rejects(api.getDevice('SN-1'), exit, pattern)
    })
  }

  it('a non-JSON error page still gives a typed error', async () => {
    agent.get(ORIGIN).intercept({path: `${P}/me`, method: 'GET'}).reply(502, '<html>Bad gateway</html>')
    await rejects(api.me(), ExitCode.UNAVAILABLE, /HTTP 502.*Bad gateway/)
  })

  it('refreshes once on 401, stores the new pair and retries', async () => {
    const pool = agent.get(ORIGIN)
    pool.intercept({path: `${P}/me`, method: 'GET', headers: {authorization: 'Bearer access-0'}}).reply(401, {error: {code: 'AUTH', message: 'expired'}}, json)
    pool
      .intercept({path: `${P}/auth/refresh`, method: 'POST', body: JSON.stringify({refreshToken: 'refresh-0'})})
      .reply(200, pair(1), json)
    pool
      .intercept({path: `${P}/me`, method: 'GET', headers: {authorization: 'Bearer access-1'}})
      .reply(200, {user, permissions: ['users:manage'], auth: 'session', mfaEnrollmentRequired: false}, json)
    const me = await api.me()
    assert.equal(me.user.username, 'alice')
    assert.equal(refreshed.length, 1)
    assert.equal(api.client.refreshToken, 'refresh-1')
  })

  it('gives up with "session expired" when the refresh token is refused', async () => {
    const pool = agent.get(ORIGIN)
    pool.intercept({path: `${P}/me`, method: 'GET'}).reply(401, {error: {code: 'AUTH', message: 'expired'}}, json)
    pool.intercept({path: `${P}/auth/refresh`, method: 'POST'}).reply(401, {error: {code: 'AUTH', message: 'revoked'}}, json)
    const error = await rejects(api.me(), ExitCode.AUTH, /session has expired/)
    assert.equal(error.code, 'SESSION_EXPIRED')
    assert.equal(refreshed.length, 0)
  })

  it('does not refresh twice when the retried call is still 401', async () => {
    const pool = agent.get(ORIGIN)
    pool.intercept({path: `${P}/me`, method: 'GET'}).reply(401, {error: {code: 'AUTH', message: 'expired'}}, json).times(2)
    pool.intercept({path: `${P}/auth/refresh`, method: 'POST'}).reply(200, pair(1), json)
    await rejects(api.me(), ExitCode.AUTH, /not authenticated/)
    assert.equal(refreshed.length, 1)
  })

  it('reports MFA_REQUIRED on login without trying to refresh', async () => {
    agent.get(ORIGIN).intercept({path: `${P}/auth/login`, method: 'POST'}).reply(401, {error: {code: 'MFA_REQUIRED', message: 'code needed'}}, json)
    const error = await rejects(api.login({username: 'a', password: 'b'}), ExitCode.AUTH, /--totp/)
    assert.equal(error.code, 'MFA_REQUIRED')
  })

  it('rejects answers that break the contract', async () => {
    agent.get(ORIGIN).intercept({path: `${P}/customers`, method: 'GET'}).reply(200, {customers: [{id: 'acme'}]}, json)
    const error = await rejects(api.listCustomers(), ExitCode.INTERNAL, /does not match the API contract/)
    assert.equal(error.code, 'PROTOCOL')
  })

  it('handles 204 answers', async () => {
    agent.get(ORIGIN).intercept({path: `${P}/tokens/t1`, method: 'DELETE'}).reply(204, '')
    await api.revokeToken('t1')
  })

  it('maps connection failures to UnavailableError', async () => {
    agent.get(ORIGIN).intercept({path: `${P}/me`, method: 'GET'}).replyWithError(Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'}))
    await rejects(api.me(), ExitCode.UNAVAILABLE, /connection refused/)
  })

  describe('downloads', () => {
    let dir: string
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tether-dl-'))
    })
    afterEach(async () => {
      await rm(dir, {recursive: true, force: true})
    })

    it('streams to a file that appears complete, mode 0600', async () => {
      agent.get(ORIGIN).intercept({path: `${P}/audit/export?since=2026-01-01T00%3A00%3A00.000Z&format=csv`, method: 'GET'}).reply(200, 'a,b\n1,2\n')
      const file = join(dir, 'out.csv')
      const {bytes} = await api.exportAudit({since: '2026-01-01T00:00:00.000Z', format: 'csv'}, file)
      assert.equal(bytes, 8)
      assert.equal(await readFile(file, 'utf8'), 'a,b\n1,2\n')
      assert.equal((await stat(file)).mode & 0o777, 0o600)
      assert.deepEqual(await readdir(dir), ['out.csv'])
    })

    it('leaves no file when the server refuses', async () => {
      agent.get(ORIGIN).intercept({path: `${P}/audit/export?format=jsonl`, method: 'GET'}).reply(403, {error: {code: 'FORBIDDEN', message: 'no audit:read'}}, json)
      await rejects(api.exportAudit({}, join(dir, 'out.jsonl')), ExitCode.FORBIDDEN)
      assert.deepEqual(await readdir(dir), [])
    })

    it('streams to a writable without ending it', async () => {
      agent.get(ORIGIN).intercept({path: `${P}/audit/export?format=jsonl`, method: 'GET'}).reply(200, '{"seq":1}\n')
      let text = ''
      let ended = false
      const sink = new Writable({
        write(chunk, _enc, done) {
          text += chunk
          done()
        },
      }).on('finish', () => (ended = true))
      await api.exportAudit({}, sink)
      assert.equal(text, '{"seq":1}\n')
      assert.equal(ended, false)
    })
  })
})

describe('normalizeServerUrl', () => {
  it('keeps the origin and refuses plain http', () => {
    assert.equal(normalizeServerUrl('https://h.example:8443/some/path/'), 'https://h.example:8443')
    assert.equal(normalizeServerUrl('h.example:8443'), 'https://h.example:8443')
    assert.throws(() => normalizeServerUrl('http://h.example'), /HTTPS only/)
  })
})
