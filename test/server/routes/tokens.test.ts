import {strict as assert} from 'node:assert'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

for (const kind of DB_KINDS) {
  describe(`routes/tokens (${kind})`, () => {
    let t: TestApp
    let root: string
    let eng: string
    let other: string

    before(async () => {
      t = await buildTestApp(kind)
      await seedUser(t.app, {username: 'root', role: 'admin'})
      await seedUser(t.app, {username: 'eng', role: 'service-engineer'})
      await seedUser(t.app, {username: 'other', role: 'service-engineer'})
      root = (await sessionFor(t.app, 'root')).accessToken
      eng = (await sessionFor(t.app, 'eng')).accessToken
      other = (await sessionFor(t.app, 'other')).accessToken
    })
    after(async () => t?.close())

    it('creates a token shown once, lists it without the secret, revokes it', async () => {
      const created = await call(t.app, 'POST', '/tokens', {token: eng, body: {name: 'nightly', permissions: ['devices:read', 'logs:pull'], ttlSeconds: 3600}})
      assert.equal(created.statusCode, 201, created.body)
      const {token, info} = created.json()
      assert.deepEqual(info.permissions, ['devices:read', 'logs:pull'])
      assert.equal(info.username, 'eng')
      assert.ok(Date.parse(info.expiresAt) - Date.now() <= 3600_000)
      const stored = await t.app.db.selectFrom('api_tokens').select('token_hash').where('id', '=', info.id).executeTakeFirstOrThrow()
      // The secret may itself contain "_": take everything after "tth_<id>_".
      const secret = /^tth_[0-9a-f]+_(.+)$/.exec(token)![1]
      assert.match(stored.token_hash, /^[0-9a-f]{64}$/)
      assert.ok(!stored.token_hash.includes(secret))
      assert.equal((await call(t.app, 'GET', '/devices', {token})).statusCode, 200)

      const list = await call(t.app, 'GET', '/tokens', {token: eng})
      assert.equal(list.statusCode, 200)
      assert.equal(list.json().tokens.length, 1)
      assert.ok(list.json().tokens[0].lastUsedAt)
      assert.ok(!list.body.includes(token))

      // Someone else's token looks missing; an admin can list and revoke it.
      assert.equal((await call(t.app, 'DELETE', `/tokens/${info.id}`, {token: other})).statusCode, 404)
      assert.equal((await call(t.app, 'GET', '/tokens', {token: other, query: {user: 'eng'}})).statusCode, 403)
      const byAdmin = await call(t.app, 'GET', '/tokens', {token: root, query: {user: 'eng'}})
      assert.equal(byAdmin.json().tokens[0].id, info.id)
      assert.equal((await call(t.app, 'GET', '/tokens', {token: root, query: {user: 'ghost'}})).statusCode, 404)
      assert.equal((await call(t.app, 'DELETE', `/tokens/${info.id}`, {token: root})).statusCode, 204)
      const res = await call(t.app, 'GET', '/devices', {token})
      assert.equal(res.statusCode, 401)
      assert.match(res.json().error.message, /revoked/)
      assert.equal(res.json().error.code, 'API_TOKEN_REVOKED')
      assert.equal((await auditEvents(t.app, 'token.create')).length, 1)
      assert.equal(JSON.parse((await auditEvents(t.app, 'token.revoke'))[0].details).owner, 'eng')
    })

    it('refuses expired tokens and permissions beyond the role', async () => {
      const created = (await call(t.app, 'POST', '/tokens', {token: eng, body: {name: 'short'}})).json()
      assert.deepEqual(created.info.permissions, ['devices:read', 'devices:enroll', 'diagnostics:run', 'logs:pull', 'tunnels:open', 'updates:deploy'])
      await t.app.db.updateTable('api_tokens').set({expires_at: new Date(Date.now() - 1000).toISOString()}).where('id', '=', created.info.id).execute()
      const res = await call(t.app, 'GET', '/devices', {token: created.token})
      assert.equal(res.statusCode, 401)
      assert.match(res.json().error.message, /^API token expired at /)
      // Its own code: the CLI then says to create a new token rather than to log in.
      assert.equal(res.json().error.code, 'API_TOKEN_EXPIRED')
      const beyond = await call(t.app, 'POST', '/tokens', {token: eng, body: {name: 'x', permissions: ['devices:read', 'audit:read']}})
      assert.equal(beyond.statusCode, 400)
      assert.equal(beyond.json().error.field, 'body.permissions')
    })

    it('narrows a token further when its owner is demoted', async () => {
      const created = (await call(t.app, 'POST', '/tokens', {token: other, body: {name: 'wide'}})).json()
      assert.equal((await call(t.app, 'PUT', '/users/other/role', {token: root, body: {role: 'viewer'}})).statusCode, 200)
      const me = await call(t.app, 'GET', '/me', {token: created.token})
      assert.deepEqual(me.json().permissions, ['devices:read'])
    })

    it('names the field on bad input', async () => {
      const cases: Array<[unknown, string]> = [
        [{name: 'has space'}, 'body.name'],
        [{name: 'ok', permissions: ['root']}, 'body.permissions.0'],
        [{name: 'ok', ttlSeconds: -1}, 'body.ttlSeconds'],
        [{name: 'ok', ttlSeconds: '60'}, 'body.ttlSeconds'],
        [{name: 'ok', scope: 'all'}, 'body'],
      ]
      for (const [body, field] of cases) {
        const res = await call(t.app, 'POST', '/tokens', {token: eng, body})
        assert.equal(res.statusCode, 400, JSON.stringify(body))
        assert.equal(res.json().error.field, field)
      }
      const bogus = await call(t.app, 'GET', '/tokens', {token: eng, query: {owner: 'x'}})
      assert.equal(bogus.statusCode, 400)
      assert.equal(bogus.json().error.field, 'querystring')
    })
  })
}
