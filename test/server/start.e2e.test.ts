import {strict as assert} from 'node:assert'
import {createHash, X509Certificate} from 'node:crypto'
import type {ChildProcess} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {connect} from 'node:tls'
import {openDatabase} from '../../src/server/db/connect.js'
import {runTether, startTether, waitForOutput} from '../helpers/cli.js'
import {eventually} from '../helpers/eventually.js'
import {createTestDatabase, DB_KINDS, type TestDatabase} from './helpers/database.js'

const LISTENING = /tether server listening on https:\/\/127\.0\.0\.1:(\d+) \(database: (\w+)/

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function call(port: number, ca: string, method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {host: '127.0.0.1', port, method, path, ca, servername: 'localhost', agent: false, headers: body ? {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)} : {}},
      (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (d) => (text += d))
        res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body: text}))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** Resolves with the handshake's outcome: the negotiated protocol, or the error code. */
function handshake(port: number, options: {minVersion?: 'TLSv1'; maxVersion: 'TLSv1.1' | 'TLSv1.2'; ciphers?: string}): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ...options})
    socket.once('secureConnect', () => {
      resolve(`connected ${socket.getProtocol()} ${socket.getCipher().name}`)
      socket.destroy()
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`))
  })
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))))
}

for (const kind of DB_KINDS) {
  describe(`tether server start, real process (${kind})`, function () {
    this.timeout(60_000)
    let dir: string
    let database: TestDatabase | undefined
    let child: ChildProcess | undefined
    let port: number
    let ca: string
    let stderr = ''
    let stdout = ''

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tether-start-'))
      database = kind === 'postgres' ? await createTestDatabase('postgres') : undefined
      const env = database ? {TETHER_DATABASE_URL: database.url} : {}
      // A fresh data dir: start initialises it first.
      child = startTether(['server', 'start', '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0', '--rate-limit', '5', '--log-level', 'warn'], {env})
      child.stderr?.on('data', (d) => (stderr += d))
      child.stdout?.on('data', (d) => (stdout += d))
      const line = await waitForOutput(child, LISTENING)
      const m = line.match(LISTENING)!
      port = Number(m[1])
      assert.equal(m[2], kind)
      ca = await readFile(join(dir, 'data', 'tls', 'ca.crt'), 'utf8')
    })

    after(async () => {
      if (child && child.exitCode === null) {
        child.kill('SIGKILL')
        await exitOf(child)
      }
      await database?.drop()
      await rm(dir, {recursive: true, force: true})
    })

    it('initialised the fresh data dir and printed the generated admin password once', () => {
      assert.match(stderr, /Initialised a new data dir/)
      assert.match(stderr, /Admin password \(shown only now\): \S{20,}/)
    })

    it('names the CA file, its fingerprint and the login line on stderr; stdout has only JSON logs', async () => {
      await eventually(async () => stderr.includes('Log in with:'), 'the banner')
      const caFile = join(dir, 'data', 'tls', 'ca.crt')
      const fingerprint = createHash('sha256').update(new X509Certificate(ca).raw).digest('hex').toUpperCase().match(/../g)!.join(':')
      assert.ok(stderr.includes(`  CA certificate:   ${caFile}\n`), stderr)
      assert.ok(stderr.includes(`  CA fingerprint:   SHA-256 ${fingerprint}\n`), stderr)
      assert.ok(stderr.includes(`  Log in with:      tether login --server https://127.0.0.1:${port} --ca ${caFile} --username admin\n`), stderr)
      for (const line of stdout.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(line), line)
      assert.doesNotMatch(stdout, /Log in with|CA certificate/)
    })

    it('serves /healthz and /readyz over TLS with HSTS', async () => {
      for (const path of ['/healthz', '/readyz']) {
        const res = await call(port, ca, 'GET', path)
        assert.equal(res.status, 200, path)
        assert.deepEqual(JSON.parse(res.body), {status: 'ok'})
        assert.match(String(res.headers['strict-transport-security']), /^max-age=\d+/)
      }
    })

    it('accepts TLS 1.2 with an AEAD suite, refuses TLS 1.1 and non-AEAD suites', async () => {
      assert.match(await handshake(port, {maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256'}), /^connected TLSv1\.2 ECDHE-ECDSA-AES128-GCM-SHA256/)
      // SECLEVEL=0 lets this client offer TLS 1.1, so the refusal is the server's.
      const old = await handshake(port, {minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0'})
      assert.match(old, /^error .*(PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL)/, old)
      const cbc = await handshake(port, {maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA'})
      assert.match(cbc, /^error .*HANDSHAKE_FAILURE/, cbc)
    })

    it('refuses an oversized body with 413', async () => {
      const res = await call(port, ca, 'POST', '/api/v1/auth/login', JSON.stringify({username: 'x', password: 'y'.repeat(1_100_000)}))
      assert.equal(res.status, 413)
      assert.equal(JSON.parse(res.body).error.code, 'TOO_LARGE')
    })

    it('rate-limits with 429 and Retry-After', async () => {
      let res: Reply | undefined
      for (let i = 0; i < 7 && res?.status !== 429; i++) res = await call(port, ca, 'GET', '/api/v1/nothing-here')
      assert.equal(res?.status, 429)
      assert.ok(Number(res?.headers['retry-after']) > 0)
      assert.equal(JSON.parse(res!.body).error.code, 'RATE_LIMITED')
    })

    it('drains and exits 0 on SIGTERM', async () => {
      child!.kill('SIGTERM')
      assert.equal(await exitOf(child!), 0)
      assert.match(stderr, /tether server stopped \(SIGTERM\)/)
    })
  })

  describe(`tether server start refuses a newer schema (${kind})`, () => {
    let dir: string
    let database: TestDatabase | undefined
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tether-newer-'))
      database = kind === 'postgres' ? await createTestDatabase('postgres') : undefined
    })
    after(async () => {
      await database?.drop()
      await rm(dir, {recursive: true, force: true})
    })

    it('exits 2 with a clear message and leaves the database alone', async () => {
      const env = database ? {TETHER_DATABASE_URL: database.url} : {}
      await writeFile(join(dir, 'pw'), 'Correct-Horse-42-battery\n')
      const init = await runTether(['server', 'init', '--data-dir', join(dir, 'data'), '--admin-password-file', join(dir, 'pw'), '--json'], {env})
      assert.equal(init.code, 0, init.stderr + init.stdout)
      const url = database?.url ?? join(dir, 'data', 'tether.db')
      const opened = await openDatabase(url)
      try {
        const db = opened.db as unknown as import('kysely').Kysely<{kysely_migration: {name: string; timestamp: string}}>
        await db.insertInto('kysely_migration').values({name: '999-from-the-future', timestamp: new Date().toISOString()}).execute()
      } finally {
        await opened.close()
      }
      const r = await runTether(['server', 'start', '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0'], {env, timeoutMs: 30_000})
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, /schema is newer than this tether binary.*999-from-the-future/)
      assert.doesNotMatch(r.stderr, /listening/)
    })
  })
}
