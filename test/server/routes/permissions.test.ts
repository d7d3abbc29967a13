import {strict as assert} from 'node:assert'
import type {Permission} from '../../../src/server/auth/permissions.js'
import {ROLE_PERMISSIONS, ROLES} from '../../../src/server/auth/permissions.js'
import type {Role} from '../../../src/server/db/schema.js'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

/** Every route of this part of the API and what it needs ('auth': any logged-in user). */
interface RouteCase {
  method: string
  path: (role: Role) => string
  needs: Permission | 'auth'
  body?: (role: Role) => unknown
}

const ALL = {all: true, entries: []}
const slug = (role: Role) => role.replace(/[^a-z]/g, '')

const ROUTES: RouteCase[] = [
  {method: 'GET', path: () => '/me', needs: 'auth'},
  {method: 'GET', path: () => '/tokens', needs: 'auth'},
  {method: 'POST', path: () => '/tokens', needs: 'auth', body: (r) => ({name: `t-${slug(r)}`})},
  {method: 'GET', path: () => '/users', needs: 'users:manage'},
  {method: 'POST', path: () => '/users', needs: 'users:manage', body: (r) => ({username: `new-${slug(r)}`, role: 'viewer'})},
  {method: 'GET', path: (r) => `/users/target-${slug(r)}`, needs: 'users:manage'},
  {method: 'PUT', path: (r) => `/users/target-${slug(r)}/role`, needs: 'users:manage', body: () => ({role: 'auditor'})},
  {method: 'PUT', path: (r) => `/users/target-${slug(r)}/scope`, needs: 'users:manage', body: () => ({all: false, entries: [{customer: 'acme'}]})},
  {method: 'POST', path: (r) => `/users/target-${slug(r)}/disable`, needs: 'users:manage'},
  {method: 'POST', path: (r) => `/users/target-${slug(r)}/enable`, needs: 'users:manage'},
  {method: 'GET', path: () => '/customers', needs: 'devices:read'},
  {method: 'POST', path: () => '/customers', needs: 'customers:manage', body: (r) => ({id: `c-${slug(r)}`, name: `Customer ${r}`})},
  {method: 'GET', path: () => '/sites', needs: 'devices:read'},
  {method: 'POST', path: () => '/sites', needs: 'customers:manage', body: (r) => ({id: `s-${slug(r)}`, customer: 'acme', name: `Site ${r}`})},
  {method: 'GET', path: () => '/devices', needs: 'devices:read'},
  {method: 'GET', path: () => '/devices/SN-1', needs: 'devices:read'},
  {method: 'POST', path: () => '/devices', needs: 'devices:manage', body: (r) => ({serial: `SN-${slug(r)}`, model: 'Analyzer X', customer: 'acme'})},
  {method: 'GET', path: () => '/audit/events', needs: 'audit:read'},
]

for (const kind of DB_KINDS) {
  describe(`permission matrix (${kind})`, () => {
    let t: TestApp
    const tokens = new Map<Role, string>()

    before(async () => {
      t = await buildTestApp(kind)
      await seedUser(t.app, {username: 'root', role: 'admin'})
      const root = (await sessionFor(t.app, 'root')).accessToken
      assert.equal((await call(t.app, 'POST', '/customers', {token: root, body: {id: 'acme', name: 'ACME Labs'}})).statusCode, 201)
      assert.equal((await call(t.app, 'POST', '/devices', {token: root, body: {serial: 'SN-1', model: 'Analyzer', customer: 'acme'}})).statusCode, 201)
      for (const role of ROLES) {
        await seedUser(t.app, {username: `as-${slug(role)}`, role, scope: ALL})
        await seedUser(t.app, {username: `target-${slug(role)}`, role: 'viewer', mfa: false})
        tokens.set(role, (await sessionFor(t.app, `as-${slug(role)}`)).accessToken)
      }
    })
    after(async () => t?.close())

    for (const route of ROUTES) {
      const label = `${route.method} ${route.path('admin').replace(/admin/, ':x')}`
      it(`${label} needs ${route.needs}`, async () => {
        const anonymous = await call(t.app, route.method, route.path('viewer'), {body: route.body?.('viewer')})
        assert.equal(anonymous.statusCode, 401, `anonymous: ${anonymous.body}`)
        for (const role of ROLES) {
          const allowed = route.needs === 'auth' || ROLE_PERMISSIONS[role].includes(route.needs)
          const res = await call(t.app, route.method, route.path(role), {token: tokens.get(role), body: route.body?.(role)})
          if (allowed) assert.ok(res.statusCode >= 200 && res.statusCode < 300, `${role}: expected 2xx, got ${res.statusCode} ${res.body}`)
          else {
            assert.equal(res.statusCode, 403, `${role}: expected 403, got ${res.statusCode} ${res.body}`)
            assert.equal(res.json().error.code, 'FORBIDDEN')
          }
        }
      })
    }

    it('audits denials', async () => {
      const denied = await auditEvents(t.app, 'auth.denied')
      assert.ok(denied.length > 0)
      assert.ok(denied.every((e) => e.outcome === 'denied'))
      assert.ok(denied.some((e) => e.actor === 'as-viewer' && JSON.parse(e.details).permission === 'users:manage'))
    })

    it('narrows an API token to its permissions', async () => {
      const eng = tokens.get('service-engineer')
      assert.ok(eng)
      const tooMuch = await call(t.app, 'POST', '/tokens', {token: eng, body: {name: 'greedy', permissions: ['users:manage']}})
      assert.equal(tooMuch.statusCode, 400)
      assert.equal(tooMuch.json().error.field, 'body.permissions')
      const created = await call(t.app, 'POST', '/tokens', {token: tokens.get('admin'), body: {name: 'ro', permissions: ['devices:read']}})
      assert.equal(created.statusCode, 201, created.body)
      const apiToken = created.json().token as string
      assert.match(apiToken, /^tth_[0-9a-f]{16}_/)
      assert.equal((await call(t.app, 'GET', '/devices', {token: apiToken})).statusCode, 200)
      assert.equal((await call(t.app, 'GET', '/users', {token: apiToken})).statusCode, 403)
      assert.equal((await call(t.app, 'POST', '/customers', {token: apiToken, body: {id: 'nope', name: 'Nope'}})).statusCode, 403)
      const me = (await call(t.app, 'GET', '/me', {token: apiToken})).json()
      assert.deepEqual(me.permissions, ['devices:read'])
      assert.equal(me.auth, 'api-token')
      assert.equal(me.tokenName, 'ro')
      // Tokens cannot mint tokens.
      assert.equal((await call(t.app, 'POST', '/tokens', {token: apiToken, body: {name: 'child'}})).statusCode, 403)
    })
  })
}
