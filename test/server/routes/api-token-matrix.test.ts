import {strict as assert} from 'node:assert'
import type {FastifyInstance} from 'fastify'
import {API_PREFIX} from '../../../src/protocol/api/common.js'
import type {Guard} from '../../../src/server/auth/guards.js'
import {type Permission, PERMISSIONS, ROLE_PERMISSIONS, ROLES} from '../../../src/server/auth/permissions.js'
import type {CatalogRoute} from '../../../src/server/http/route-catalog.js'
import {buildTestApp, call, seedUser, sessionFor, type TestApp, totpCode} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'
import {routeKey, type RouteSample, SAMPLES, type SampleIds, sampleFor} from '../helpers/route-samples.js'

/**
 * Routes with no guard on purpose: their credential is in the body (a password, a refresh
 * token, a one-time enrolment token). Every other /api/v1 route must declare one.
 */
// Sign-in itself: the SSO steps are to SSO what login is to passwords (each checks its own single-use login id).
const PUBLIC_ROUTES = ['POST /auth/login', 'POST /auth/refresh', 'POST /auth/logout', 'POST /agent/enroll', 'POST /auth/sso/start', 'POST /auth/sso/callback', 'POST /auth/sso/totp', 'POST /auth/sso/device/start', 'POST /auth/sso/device/poll']

/**
 * Declarations the matrix cannot take from the catalog itself (issue #9): token management, MFA
 * enrolment and the own password are for an interactive login only, and what the agent calls needs its device
 * certificate. A route added under these paths inherits the rule.
 */
const SESSION_ONLY = [/^\/tokens(\/|$)/, /^\/me\/mfa\//, /^\/me\/password$/]
const DEVICE_ONLY = [/^\/agent\//]

const ALL = {all: true, entries: []}
const slug = (s: string) => s.replaceAll(/[^a-z]/g, '')

/** Someone calling the API, and what the matrix expects them to be allowed. */
interface Caller {
  label: string
  /** Bearer credential; none: anonymous. */
  token?: string
  /** Effective permissions; null: the credential itself is refused (revoked, expired, none). */
  permissions: readonly Permission[] | null
  session: boolean
}

type Outcome = 'passes' | 'forbidden' | 'unauthenticated' | 'device-only'

/** Everything a permission guard demands of the object the sample names. */
function needs(guard: Extract<Guard, {kind: 'permission'}>, sample: RouteSample): Permission[] {
  if (!guard.byObject) return [guard.permission]
  const extra = sample.object === undefined ? undefined : guard.byObject[sample.object]
  assert.ok(extra, `the sample of a byObject route must name a kind of ${Object.keys(guard.byObject).join('/')} (route-samples.ts)`)
  return [guard.permission, extra]
}

function expected(guard: Guard, sample: RouteSample, caller: Caller): Outcome {
  if (caller.permissions === null) return 'unauthenticated'
  switch (guard.kind) {
    case 'device':
      return 'device-only'
    case 'auth':
      return 'passes'
    case 'session':
      return caller.session ? 'passes' : 'forbidden'
    case 'permission':
      if (guard.session && !caller.session) return 'forbidden'
      return needs(guard, sample).every((p) => caller.permissions!.includes(p)) ? 'passes' : 'forbidden'
  }
}

/** Sends the sample; returns the answer and the auth.denied events written meanwhile. */
async function probe(app: FastifyInstance, route: CatalogRoute, sample: RouteSample, token?: string) {
  const before = await app.db.selectFrom('audit_events').select(({fn}) => fn.max('seq').as('seq')).executeTakeFirstOrThrow()
  const res = await call(app, route.method, sample.path, {token, query: sample.query, headers: sample.headers, body: sample.body})
  const denied = await app.db
    .selectFrom('audit_events')
    .select('details')
    .where('seq', '>', Number(before.seq ?? 0))
    .where('action', '=', 'auth.denied')
    .execute()
  return {res, denied}
}

/** The mismatch between what the caller got and what the route's guard promises; null if none. */
async function check(app: FastifyInstance, route: CatalogRoute, ids: SampleIds, caller: Caller): Promise<string | null> {
  const sample = sampleFor(route, ids)
  const want = expected(route.guard!, sample, caller)
  const {res, denied} = await probe(app, route, sample, caller.token)
  const got = `${res.statusCode} ${res.body.slice(0, 160)}${denied.length > 0 ? ' [auth.denied]' : ''}`
  const ok = {
    passes: () => res.statusCode !== 401 && res.statusCode !== 403 && denied.length === 0,
    // Refused by the guard, and the refusal is on the record for this route.
    forbidden: () => res.statusCode === 403 && res.json().error.code === 'FORBIDDEN' && denied.length === 1 && JSON.parse(denied[0].details).route === route.url,
    unauthenticated: () => res.statusCode === 401 && denied.length === 0,
    'device-only': () => res.statusCode === 401 || res.statusCode === 403,
  }[want]()
  return ok ? null : `${routeKey(route)} (${caller.label}): expected ${want}, got ${got}`
}

async function mint(app: FastifyInstance, session: string, name: string, permissions: readonly Permission[]): Promise<{token: string; id: string}> {
  const res = await call(app, 'POST', '/tokens', {token: session, body: {name, permissions}})
  assert.equal(res.statusCode, 201, res.body)
  return {token: res.json().token, id: res.json().info.id}
}

for (const kind of DB_KINDS) {
  describe(`API token and role matrix over the route catalog (${kind})`, () => {
    let t: TestApp
    let routes: CatalogRoute[]
    let ids: SampleIds
    let owner: string
    const callers = new Map<string, Caller>()

    before(async () => {
      t = await buildTestApp(kind)
      routes = t.app.routeCatalog.filter((r) => r.url.startsWith(`${API_PREFIX}/`) && !PUBLIC_ROUTES.includes(routeKey(r)))
      await seedUser(t.app, {username: 'root', role: 'admin'})
      const root = (await sessionFor(t.app, 'root')).accessToken
      for (const [path, body] of [
        ['/customers', {id: 'acme', name: 'ACME Labs'}],
        ['/devices', {serial: 'SN-1', model: 'Analyzer', customer: 'acme'}],
        ['/devices', {serial: 'SN-2', model: 'Analyzer', customer: 'acme'}],
      ] as const) {
        assert.equal((await call(t.app, 'POST', path, {token: root, body})).statusCode, 201)
      }
      const job = await call(t.app, 'POST', '/devices/SN-1/diagnostics', {token: root, body: {name: 'system-info'}})
      assert.equal(job.statusCode, 202, job.body)
      await seedUser(t.app, {username: 'target', role: 'viewer', mfa: false})
      const victim = await mint(t.app, root, 'victim', ['devices:read'])
      const access = await call(t.app, 'POST', '/devices/SN-1/access-requests', {token: root, body: {reason: 'INC-1', durationSeconds: 600}})
      assert.equal(access.statusCode, 201, access.body)
      ids = {serial: 'SN-1', revocableSerial: 'SN-2', username: 'target', diagnosticJobId: job.json().id, tokenId: victim.id, accessRequestId: access.json().id}

      // Tokens of one admin, each holding exactly one permission.
      await seedUser(t.app, {username: 'owner', role: 'admin', scope: ALL})
      owner = (await sessionFor(t.app, 'owner')).accessToken
      for (const p of PERMISSIONS) callers.set(`token [${p}]`, {label: `token [${p}]`, token: (await mint(t.app, owner, `only-${slug(p)}`, [p])).token, permissions: [p], session: false})
      // Sessions of each role.
      for (const role of ROLES) {
        await seedUser(t.app, {username: `as-${slug(role)}`, role, scope: ALL})
        const token = (await sessionFor(t.app, `as-${slug(role)}`)).accessToken
        callers.set(`session ${role}`, {label: `session ${role}`, token, permissions: ROLE_PERMISSIONS[role], session: true})
      }
      // A token minted with every permission by an admin since demoted to viewer: a viewer's reach.
      await seedUser(t.app, {username: 'demoted', role: 'admin', scope: ALL})
      const wide = await mint(t.app, (await sessionFor(t.app, 'demoted')).accessToken, 'wide', PERMISSIONS)
      assert.equal((await call(t.app, 'PUT', '/users/demoted/role', {token: root, body: {role: 'viewer'}})).statusCode, 200)
      callers.set('token of a demoted admin', {label: 'token of a demoted admin', token: wide.token, permissions: ROLE_PERMISSIONS.viewer, session: false})
      // Dead credentials: refused on every route, whatever they once granted.
      const revoked = await mint(t.app, owner, 'revoked', PERMISSIONS)
      assert.equal((await call(t.app, 'DELETE', `/tokens/${revoked.id}`, {token: owner})).statusCode, 204)
      const expired = await mint(t.app, owner, 'expired', PERMISSIONS)
      await t.app.db.updateTable('api_tokens').set({expires_at: new Date(Date.now() - 1000).toISOString()}).where('id', '=', expired.id).execute()
      callers.set('revoked token', {label: 'revoked token', token: revoked.token, permissions: null, session: false})
      callers.set('expired token', {label: 'expired token', token: expired.token, permissions: null, session: false})
      callers.set('anonymous', {label: 'anonymous', permissions: null, session: false})
    })
    after(async () => t?.close())

    it('every /api/v1 route declares its guard, except the public ones listed here', () => {
      const all = t.app.routeCatalog.filter((r) => r.url.startsWith(`${API_PREFIX}/`))
      assert.ok(all.length > 30, `only ${all.length} routes catalogued`)
      assert.deepEqual(
        all.filter((r) => r.guard === null && !PUBLIC_ROUTES.includes(routeKey(r))).map(routeKey),
        [],
        'unguarded routes (add requireAuth/requireSession/requirePermission/requireDevice)',
      )
      // A stale entry would hide a route that gained a guard or no longer exists.
      for (const key of PUBLIC_ROUTES) assert.equal(all.find((r) => routeKey(r) === key)?.guard, null, `${key} is not a public route`)
      for (const key of Object.keys(SAMPLES)) assert.ok(all.some((r) => routeKey(r) === key), `route-samples.ts names unknown route ${key}`)
      const path = (r: CatalogRoute) => r.url.slice(API_PREFIX.length)
      const pinned = (patterns: RegExp[], kind: Guard['kind']) => routes.filter((r) => patterns.some((re) => re.test(path(r))) && r.guard?.kind !== kind).map(routeKey)
      assert.deepEqual(pinned(SESSION_ONLY, 'session'), [], 'token and MFA routes must take requireSession')
      assert.deepEqual(pinned(DEVICE_ONLY, 'device'), [], 'agent routes must take requireDevice')
      assert.ok(routes.filter((r) => r.guard?.kind === 'session').length >= 5 && routes.some((r) => r.guard?.kind === 'device'))
    })

    const matrix = [
      ...PERMISSIONS.map((p) => [`token [${p}]`, `passes exactly the routes needing ${p} and the auth routes; session routes and the rest are 403`]),
      ...ROLES.map((r) => [`session ${r}`, `passes exactly the routes its role's permissions allow, and the auth and session routes`]),
      ['token of a demoted admin', "is narrowed to the owner's new role (viewer) on every route"],
      ['revoked token', 'is a 401 on every guarded route'],
      ['expired token', 'is a 401 on every guarded route'],
      ['anonymous', 'is a 401 on every guarded route'],
    ]
    for (const [label, what] of matrix) {
      it(`${label} ${what}; device routes refuse it`, async () => {
        const caller = callers.get(label)!
        const mismatches: string[] = []
        for (const route of routes) {
          const mismatch = await check(t.app, route, ids, caller)
          if (mismatch) mismatches.push(mismatch)
        }
        assert.deepEqual(mismatches, [])
      })
    }

    it('a route that also needs a permission by object passes a token holding both, and only then', async () => {
      const perObject = routes.filter((r) => r.guard?.kind === 'permission' && r.guard.byObject)
      assert.ok(perObject.length > 0, 'POST /jobs/:id/cancel declares its per-kind permission')
      for (const [i, route] of perObject.entries()) {
        const sample = sampleFor(route, ids)
        const both = needs(route.guard as Extract<Guard, {kind: 'permission'}>, sample)
        const full = await mint(t.app, owner, `both-${i}`, both)
        assert.equal(await check(t.app, route, ids, {label: `token ${both.join('+')}`, token: full.token, permissions: both, session: false}), null)
        const half = await mint(t.app, owner, `half-${i}`, [both[0]])
        assert.equal(await check(t.app, route, ids, {label: `token [${both[0]}]`, token: half.token, permissions: [both[0]], session: false}), null)
      }
    })
  })

  describe(`issue #9: a devices:read API token cannot manage its owner's tokens or MFA (${kind})`, () => {
    let t: TestApp
    before(async () => {
      t = await buildTestApp(kind)
    })
    after(async () => t?.close())

    it("cannot list, mint or revoke the owner's tokens, nor enrol MFA; the other token and the password-only login still work", async () => {
      // A viewer: no MFA needed while mfaForReadOnlyRoles is false (the default).
      assert.equal(t.config.auth.mfaForReadOnlyRoles, false)
      const vera = await seedUser(t.app, {username: 'vera', role: 'viewer', mfa: false, scope: ALL})
      const login = () => call(t.app, 'POST', '/auth/login', {body: {username: 'vera', password: vera.password}})
      const first = await login()
      assert.equal(first.statusCode, 200, first.body)
      const session = first.json().accessToken as string
      const script = await mint(t.app, session, 'script', ['devices:read'])
      const other = await mint(t.app, session, 'other', ['devices:read'])

      // What someone holding only the script's token would try, in order.
      const as = (method: string, path: string, body?: unknown) => call(t.app, method, path, {token: script.token, body})
      const list = await as('GET', '/tokens')
      const minted = await as('POST', '/tokens', {name: 'child', permissions: ['devices:read']})
      const revokedOther = await as('DELETE', `/tokens/${other.id}`)
      const enrol = await as('POST', '/me/mfa/enroll')
      // Had enrolment answered, its secret would give a valid code: confirm with it.
      const secret = enrol.statusCode === 200 ? (enrol.json().secret as string) : undefined
      const confirm = await as('POST', '/me/mfa/confirm', {code: secret ? totpCode({username: 'vera', totpSecret: secret}) : '123456'})

      const otherStillWorks = await call(t.app, 'GET', '/devices', {token: other.token})
      const again = await login()
      const user = await t.app.db.selectFrom('users').select(['mfa_enabled', 'mfa_secret']).where('username', '=', 'vera').executeTakeFirstOrThrow()
      assert.deepEqual(
        {
          'list tokens': list.statusCode,
          'mint a token': minted.statusCode,
          'revoke the other token': revokedOther.statusCode,
          'start MFA enrolment': enrol.statusCode,
          'confirm MFA enrolment': confirm.statusCode,
          'the other token, afterwards': otherStillWorks.statusCode,
          'password-only login, afterwards': again.statusCode,
          'MFA enabled': user.mfa_enabled === 1,
          'MFA secret stored': user.mfa_secret !== null,
        },
        {
          'list tokens': 403,
          'mint a token': 403,
          'revoke the other token': 403,
          'start MFA enrolment': 403,
          'confirm MFA enrolment': 403,
          'the other token, afterwards': 200,
          'password-only login, afterwards': 200,
          'MFA enabled': false,
          'MFA secret stored': false,
        },
      )
      for (const res of [list, minted, revokedOther, enrol, confirm]) assert.equal(res.json().error.code, 'FORBIDDEN')
      assert.equal(again.json().mfaEnrollmentRequired, false)
      // The session itself still manages the tokens: both there, neither revoked, no child.
      const tokens = (await call(t.app, 'GET', '/tokens', {token: again.json().accessToken})).json().tokens as Array<{name: string; revokedAt: string | null}>
      assert.deepEqual(
        tokens.map((x) => [x.name, x.revokedAt]),
        [
          ['script', null],
          ['other', null],
        ],
      )
    })
  })
}
