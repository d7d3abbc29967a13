import {strict as assert} from 'node:assert'
import {buildTestApp, seedUser, sessionFor, type TestApp} from './helpers/app.js'
import {DB_KINDS} from './helpers/database.js'

for (const kind of DB_KINDS) {
  describe(`server app platform (${kind})`, () => {
    let t: TestApp
    before(async () => {
      t = await buildTestApp(kind, {
        config: (c) => {
          c.limits.rateLimitPerMinute = 5
          c.limits.bodyLimitBytes = 1024
        },
      })
    })
    after(async () => t?.close())

    it('answers /healthz and /readyz with only a status, HSTS on every response', async () => {
      for (const url of ['/healthz', '/readyz']) {
        const res = await t.app.inject({method: 'GET', url})
        assert.equal(res.statusCode, 200, url)
        assert.deepEqual(res.json(), {status: 'ok'})
        assert.match(String(res.headers['strict-transport-security']), /max-age=\d{8}/)
        assert.equal(res.headers['x-content-type-options'], 'nosniff')
      }
      const missing = await t.app.inject({method: 'GET', url: '/api/v1/no-such-thing', remoteAddress: '127.9.9.9'})
      assert.equal(missing.statusCode, 404)
      assert.ok(missing.headers['strict-transport-security'], 'errors carry HSTS too')
    })

    it('catalogues routes with their schemas for the OpenAPI document', () => {
      const health = t.app.routeCatalog.find((r) => r.url === '/healthz' && r.method === 'GET')
      assert.ok(health?.schema?.response, 'healthz declares its response')
      assert.equal(health?.guard, null)
      assert.ok(!t.app.routeCatalog.some((r) => r.method === 'HEAD'), 'HEAD twins are left out')
    })

    it('does not rate-limit health checks', async () => {
      for (let i = 0; i < 8; i++) assert.equal((await t.app.inject({method: 'GET', url: '/healthz', remoteAddress: '127.0.10.1'})).statusCode, 200)
    })

    it('refuses a body over the limit with 413 and a clear message', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        remoteAddress: '127.0.10.2',
        payload: {username: 'x'.repeat(2000), password: 'y'},
      })
      assert.equal(res.statusCode, 413)
      assert.deepEqual(res.json(), {error: {code: 'TOO_LARGE', message: 'request body is larger than the limit of 1024 bytes'}})
    })

    it('limits each source address, with 429 and Retry-After', async () => {
      const codes: number[] = []
      let last
      for (let i = 0; i < 7; i++) {
        last = await t.app.inject({method: 'GET', url: '/api/v1/no-such-thing', remoteAddress: '127.0.10.3'})
        codes.push(last.statusCode)
      }
      assert.deepEqual(codes, [404, 404, 404, 404, 404, 429, 429])
      assert.ok(Number(last!.headers['retry-after']) > 0)
      assert.equal(last!.json().error.code, 'RATE_LIMITED')
      assert.match(last!.json().error.message, /too many requests; retry in/)
      const other = await t.app.inject({method: 'GET', url: '/api/v1/no-such-thing', remoteAddress: '127.0.10.4'})
      assert.equal(other.statusCode, 404, 'another address has its own budget')
    })

    it('limits each user across addresses', async () => {
      await seedUser(t.app, {username: 'limited', role: 'viewer', mfa: false})
      const {accessToken} = await sessionFor(t.app, 'limited')
      const codes: number[] = []
      let last
      for (let i = 0; i < 7; i++) {
        last = await t.app.inject({method: 'GET', url: '/api/v1/no-such-thing', remoteAddress: `127.0.11.${i + 1}`, headers: {authorization: `Bearer ${accessToken}`}})
        codes.push(last.statusCode)
      }
      assert.deepEqual(codes.slice(5), [429, 429], `codes: ${codes.join(',')}`)
      assert.ok(codes.slice(0, 5).every((c) => c !== 429), `codes: ${codes.join(',')}`)
      assert.ok(Number(last!.headers['retry-after']) > 0)
    })

    it('believes X-Forwarded-For only from trustProxy addresses', async () => {
      const proxied = await buildTestApp(kind, {config: (c) => ((c.trustProxy = ['127.0.12.1']), (c.limits.rateLimitPerMinute = 2))})
      try {
        const via = (ip: string, xff: string) =>
          proxied.app.inject({method: 'GET', url: '/api/v1/nope', remoteAddress: ip, headers: {'x-forwarded-for': xff}})
        // Behind the trusted proxy each client has its own budget...
        for (const client of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) assert.equal((await via('127.0.12.1', client)).statusCode, 404)
        // ...while an untrusted peer cannot dodge the limit by inventing addresses.
        const codes = [await via('127.0.13.1', '192.0.2.4'), await via('127.0.13.1', '192.0.2.5'), await via('127.0.13.1', '192.0.2.6')].map((r) => r.statusCode)
        assert.deepEqual(codes, [404, 404, 429])
      } finally {
        await proxied.close()
      }
    })

    it('reports not ready (503) when the database is gone', async () => {
      const extra = await buildTestApp(kind)
      try {
        await extra.app.db.destroy()
        const res = await extra.app.inject({method: 'GET', url: '/readyz'})
        assert.equal(res.statusCode, 503)
        assert.deepEqual(res.json(), {status: 'unavailable'})
      } finally {
        await extra.close().catch((error: Error) => assert.match(error.message, /destroy|closed|end/i))
      }
    })
  })
}
