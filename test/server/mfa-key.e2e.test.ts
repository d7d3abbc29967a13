import {strict as assert} from 'node:assert'
import type {ChildProcess} from 'node:child_process'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Secret, TOTP} from 'otpauth'
import {Agent, request} from 'undici'
import {generateMfaKey} from '../../src/server/auth/mfa-key.js'
import {openDatabase} from '../../src/server/db/connect.js'
import {insertUser, prepareUser} from '../../src/server/users/service.js'
import {runTether, startTether, waitForOutput} from '../helpers/cli.js'
import {createTestDatabase, DB_KINDS, type TestDatabase} from './helpers/database.js'

// The MFA key as an operator meets it: a data dir from before sealed TOTP secrets is upgraded
// at the first start, and a node with a missing or wrong key file refuses to start.
const LISTENING = /tether server listening on https:\/\/127\.0\.0\.1:(\d+)/
const PASSWORD = 'Mfa-at-rest-0123456789'

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))))
}

for (const kind of DB_KINDS) {
  describe(`tether server start and the MFA key (${kind})`, function () {
    this.timeout(90_000)
    let dir: string
    let dataDir: string
    let keyFile: string
    let database: TestDatabase | undefined
    let env: Record<string, string>
    let child: ChildProcess | undefined
    const secret = new Secret({size: 20}).base32

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tether-mfa-e2e-'))
      dataDir = join(dir, 'data')
      keyFile = join(dataDir, 'secrets', 'mfa.key')
      database = kind === 'postgres' ? await createTestDatabase('postgres') : undefined
      env = database ? {TETHER_DATABASE_URL: database.url} : {}
      await writeFile(join(dir, 'pw'), `${PASSWORD}\n`)
      const init = await runTether(['server', 'init', '--data-dir', dataDir, '--admin-password-file', join(dir, 'pw'), '--json'], {env})
      assert.equal(init.code, 0, init.stderr)
      // Make it a data dir of an older tether: no key file, a TOTP secret in clear.
      await rm(keyFile)
      const opened = await openDatabase(database?.url ?? join(dataDir, 'tether.db'))
      try {
        const user = await insertUser(opened.db, await prepareUser({username: 'ops', role: 'admin', password: PASSWORD}))
        await opened.db.updateTable('users').set({mfa_secret: secret, mfa_enabled: 1}).where('id', '=', user.id).execute()
      } finally {
        await opened.close()
      }
    })

    after(async () => {
      if (child && child.exitCode === null) {
        child.kill('SIGKILL')
        await exitOf(child)
      }
      await database?.drop()
      await rm(dir, {recursive: true, force: true})
    })

    const start = (): Promise<{code: number | null; stderr: string; stdout: string}> =>
      runTether(['server', 'start', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0'], {env, timeoutMs: 30_000})

    it('creates the key at the first start, seals the plaintext secret (logged), and the TOTP login works', async () => {
      child = startTether(['server', 'start', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0', '--log-level', 'info'], {env})
      let stdout = ''
      child.stdout?.on('data', (d) => (stdout += d))
      const port = Number((await waitForOutput(child, LISTENING)).match(LISTENING)![1])
      assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
      const lines = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as {msg: string; sealed?: number})
      assert.ok(lines.some((l) => /^mfa: created the MFA key/.test(l.msg)), stdout)
      assert.equal(lines.find((l) => l.msg.startsWith('mfa: sealed'))?.sealed, 1, stdout)

      const dispatcher = new Agent({connect: {ca: await readFile(join(dataDir, 'tls', 'ca.crt'), 'utf8'), servername: 'localhost'}})
      try {
        const totp = new TOTP({issuer: 'Tether', label: 'ops', secret: Secret.fromBase32(secret)}).generate()
        const res = await request(`https://127.0.0.1:${port}/api/v1/auth/login`, {
          method: 'POST',
          dispatcher,
          headers: {'content-type': 'application/json'},
          body: JSON.stringify({username: 'ops', password: PASSWORD, totp}),
        })
        assert.equal(res.statusCode, 200, await res.body.text())
        await res.body.dump()
      } finally {
        await dispatcher.close()
      }
      child.kill('SIGTERM')
      assert.equal(await exitOf(child), 0)
    })

    it('refuses to start, in one line naming the file, when the key file is missing', async () => {
      const key = await readFile(keyFile, 'utf8')
      await rm(keyFile)
      try {
        const r = await start()
        assert.equal(r.code, 2, r.stderr)
        assert.match(r.stderr, /^Error: \S+secrets\/mfa\.key is missing, but TOTP secrets in the database are sealed with MFA key [0-9a-f]{16}: copy that file/)
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
        assert.doesNotMatch(r.stderr + r.stdout, /listening|\n\s+at /)
        await assert.rejects(stat(keyFile), {code: 'ENOENT'}, 'no new key that would lock every MFA user out')
      } finally {
        await writeFile(keyFile, key, {mode: 0o600})
      }
    })

    it('refuses to start, in one line naming the file, with another key', async () => {
      const key = await readFile(keyFile, 'utf8')
      await writeFile(keyFile, generateMfaKey())
      try {
        const r = await start()
        assert.equal(r.code, 2, r.stderr)
        assert.match(r.stderr, /^Error: \S+secrets\/mfa\.key is MFA key [0-9a-f]{16}, but TOTP secrets in the database are sealed with MFA key [0-9a-f]{16}: copy the key file/)
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      } finally {
        await writeFile(keyFile, key, {mode: 0o600})
      }
    })
  })
}
