import {strict as assert} from 'node:assert'
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Secret, TOTP} from 'otpauth'
import {Agent, request} from 'undici'
import {openDatabase} from '../../src/server/db/connect.js'
import {insertUser, prepareUser} from '../../src/server/users/service.js'
import {exitOf, stopChild as stop} from '../agent/helpers/support-center.js'
import {startTether, waitForOutput} from '../helpers/cli.js'
import {freePort} from '../helpers/cluster.js'
import {haveHaproxy} from '../helpers/haproxy.js'
import {createTestDatabase, type TestDatabase} from './helpers/database.js'

// Scale-out as operated: two `tether server start` nodes sharing one PostgreSQL and a copy of
// the data dir's secrets, behind a real haproxy (TCP passthrough, round robin).
const LISTENING = /tether server listening on https:\/\/127\.0\.0\.1:(\d+)/
const PASSWORD = 'Scale-out-admin-0123456789'

describe('two server nodes behind haproxy on one PostgreSQL', function () {
  this.timeout(120_000)
  let dir: string
  let database: TestDatabase
  let ca: string
  const nodes: ChildProcess[] = []
  const ports: number[] = []
  let haproxy: ChildProcess | undefined
  let lbPort: number
  const totpSecret = new Secret({size: 20}).base32

  /** One request on a fresh TLS connection, so haproxy balances every call. */
  async function call(port: number, method: 'GET' | 'POST', path: string, token?: string, body?: unknown): Promise<{status: number; json: Record<string, unknown>}> {
    const dispatcher = new Agent({connect: {ca, servername: 'localhost'}})
    try {
      // Health endpoints live outside the versioned API.
      const fullPath = /^\/(healthz|readyz)$/.test(path) ? path : `/api/v1${path}`
      const res = await request(`https://127.0.0.1:${port}${fullPath}`, {
        method,
        dispatcher,
        headers: {...(token ? {authorization: `Bearer ${token}`} : {}), ...(body ? {'content-type': 'application/json'} : {})},
        body: body ? JSON.stringify(body) : undefined,
      })
      const text = await res.body.text()
      return {status: res.statusCode, json: text ? JSON.parse(text) : {}}
    } finally {
      await dispatcher.close()
    }
  }

  /** The operator's session, logged in once through the balancer (a TOTP code is good once). */
  let opsToken: string

  before(async function () {
    if (!haveHaproxy()) this.skip()
    dir = await mkdtemp(join(tmpdir(), 'tether-scale-'))
    database = await createTestDatabase('postgres')
    const env = {TETHER_DATABASE_URL: database.url}
    await writeFile(join(dir, 'admin.pw'), `${PASSWORD}\n`)
    const init = spawn(process.execPath, ['bin/run.js', 'server', 'init', '--data-dir', join(dir, 'data'), '--admin-password-file', join(dir, 'admin.pw')], {
      env: {...process.env, ...env, NO_COLOR: '1'},
      stdio: 'ignore',
    })
    await exitOf(init)
    assert.equal(init.exitCode, 0, 'server init')
    ca = await readFile(join(dir, 'data', 'tls', 'ca.crt'), 'utf8')

    // An operator with MFA already enrolled, so the test does not wait for TOTP windows.
    const opened = await openDatabase(database.url)
    try {
      const user = await insertUser(opened.db, await prepareUser({username: 'ops', role: 'admin', password: PASSWORD}))
      await opened.db.updateTable('users').set({mfa_secret: totpSecret, mfa_enabled: 1}).where('id', '=', user.id).execute()
      await insertUser(opened.db, await prepareUser({username: 'eve', role: 'viewer', password: PASSWORD}))
    } finally {
      await opened.close()
    }

    for (let i = 0; i < 2; i++) {
      // Each node its own id (docs/operations.md, "Node ids and peer addresses").
      const node = startTether(['server', 'start', '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn', '--node-id', `node-${i + 1}`], {env})
      nodes.push(node)
      ports.push(Number((await waitForOutput(node, LISTENING)).match(LISTENING)![1]))
    }

    lbPort = await freePort()
    const cfg = [
      'global',
      '  maxconn 200',
      'defaults',
      '  mode tcp',
      '  retries 3',
      '  option redispatch',
      '  timeout connect 2s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend tether',
      `  bind 127.0.0.1:${lbPort}`,
      '  default_backend nodes',
      'backend nodes',
      '  balance roundrobin',
      ...ports.map((p, i) => `  server n${i} 127.0.0.1:${p} check inter 300ms fall 2 rise 1`),
      '',
    ].join('\n')
    await writeFile(join(dir, 'haproxy.cfg'), cfg)
    haproxy = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], {stdio: ['ignore', 'pipe', 'pipe']})
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        if ((await call(lbPort, 'GET', '/healthz')).status === 200) break
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    const totp = new TOTP({issuer: 'Tether', label: 'ops', algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(totpSecret)})
    const login = await call(lbPort, 'POST', '/auth/login', undefined, {username: 'ops', password: PASSWORD, totp: totp.generate()})
    assert.equal(login.status, 200, JSON.stringify(login.json))
    opsToken = login.json.accessToken as string
  })

  after(async () => {
    await stop(haproxy)
    for (const node of nodes) await stop(node)
    await database?.drop()
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('a session made through the balancer is valid on every node', async () => {
    const token = opsToken
    for (const port of [...ports, lbPort, lbPort, lbPort]) {
      const me = await call(port, 'GET', '/me', token)
      assert.equal(me.status, 200, `GET /me on port ${port}`)
      assert.equal((me.json.user as {username: string}).username, 'ops')
    }
  })

  it('disabling a user on one node cuts their session on the other at once', async () => {
    const eve = await call(ports[1], 'POST', '/auth/login', undefined, {username: 'eve', password: PASSWORD})
    assert.equal(eve.status, 200, JSON.stringify(eve.json))
    assert.equal((await call(ports[1], 'GET', '/me', eve.json.accessToken as string)).status, 200)

    assert.equal((await call(ports[0], 'POST', '/users/eve/disable', opsToken, {})).status, 200)
    assert.equal((await call(ports[1], 'GET', '/me', eve.json.accessToken as string)).status, 401)
    assert.equal((await call(ports[1], 'POST', '/auth/refresh', undefined, {refreshToken: eve.json.refreshToken})).status, 401)
  })

  it('concurrent changes through both nodes keep one unbroken audit chain', async () => {
    const token = opsToken
    const created = await Promise.all(
      Array.from({length: 24}, (_, i) => call(i % 2 === 0 ? ports[0] : ports[1], 'POST', '/customers', token, {id: `hospital-${i}`, name: `Hospital ${i}`})),
    )
    for (const r of created) assert.equal(r.status, 201, JSON.stringify(r.json))
    const verify = await call(lbPort, 'POST', '/audit/verify', token, {})
    assert.equal(verify.status, 200)
    assert.equal(verify.json.ok, true, JSON.stringify(verify.json.problems))
    assert.ok((verify.json.checked as number) >= 24, `checked ${verify.json.checked}`)
  })

  it('keeps serving through the balancer when a node dies', async () => {
    await stop(nodes[0], 'SIGKILL')
    for (let i = 0; i < 6; i++) {
      const health = await call(lbPort, 'GET', '/readyz')
      assert.equal(health.status, 200)
    }
  })
})
