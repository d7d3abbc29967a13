import {strict as assert} from 'node:assert'
import type {ChildProcess} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import * as OTPAuth from 'otpauth'
import {fetch} from 'undici'
import {type RunResult, runTether, startTether, waitForOutput} from '../helpers/cli.js'
import {CLIENT_ID, CLIENT_SECRET, TestIdp} from '../server/auth/sso/test-idp.js'
import {createTestDatabase, DB_KINDS, type TestDatabase} from '../server/helpers/database.js'

const LISTENING = /tether server listening on (https:\/\/127\.0\.0\.1:\d+)/
const URL_SHOWN = /Open this URL in a browser:\n(https:\/\/\S+)\n/
const CODE_SHOWN = /open (https:\/\/\S+) and enter the code (\S+)\n\(or open (https:\/\/\S+)\)/

function json<T = Record<string, unknown>>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  }
}

function expectExit(r: RunResult, code: number): RunResult {
  assert.equal(r.code, code, `exit ${r.code}, expected ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r
}

/** Waits for a child to end and collects what it wrote. */
function finished(child: ChildProcess): Promise<RunResult> {
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const started = performance.now()
  return new Promise((resolve) => child.once('close', (code) => resolve({code, stdout, stderr, ms: performance.now() - started})))
}

for (const kind of DB_KINDS) {
  describe(`tether login --sso with the built CLI, a real server and a real IdP (${kind})`, function () {
    this.timeout(120_000)
    let dir: string
    let idp: TestIdp
    let database: TestDatabase | undefined
    let server: ChildProcess | undefined
    let url: string
    let caFile: string
    let dataDir: string
    let env: Record<string, string | undefined>

    /** Each user has their own config dir; TETHER_NO_BROWSER=1 keeps the CLI from starting a browser. */
    const as = (who: string) => ({
      ...env,
      TETHER_CONFIG_DIR: join(dir, `cfg-${who}`),
      TETHER_CREDENTIAL_STORE: 'file',
      TETHER_NO_BROWSER: '1',
      TETHER_SERVER: undefined,
      TETHER_TOKEN: undefined,
      TETHER_CA: undefined,
    })
    const tether = (who: string, args: string[]) => runTether(args, {env: as(who)})

    /**
     * `tether login --sso` as a user runs it: the CLI prints the URL, "the browser" (IdP driven over
     * HTTP) signs in as `sub` and lands on the CLI's loopback port, and the CLI finishes.
     */
    async function ssoLogin(who: string, sub: string, extra: string[] = []): Promise<RunResult> {
      const child = startTether(['login', '--sso', '--server', url, '--ca', caFile, ...extra], {env: as(who)})
      const result = finished(child)
      const shown = (await waitForOutput(child, URL_SHOWN)).match(URL_SHOWN)!
      const callback = await idp.browse(shown[1], sub)
      assert.match(callback, /^http:\/\/127\.0\.0\.1:\d+\/callback\?/)
      const landing = await fetch(callback)
      assert.equal(landing.status, 200)
      assert.match(await landing.text(), /Signed in to Tether/)
      return result
    }

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tether-sso-e2e-'))
      idp = await TestIdp.start()
      idp.addUser({sub: 'alice-sub', username: 'alice', groups: ['Service Engineers'], amr: ['pwd', 'mfa']})
      idp.addUser({sub: 'erin-sub', username: 'erin', groups: ['Tether Admins'], amr: ['pwd', 'mfa']})
      idp.addUser({sub: 'carol-sub', username: 'carol', groups: ['Service Engineers'], amr: ['pwd']})
      database = kind === 'postgres' ? await createTestDatabase('postgres') : undefined
      env = {TETHER_DATABASE_URL: database?.url}
      dataDir = join(dir, 'data')
      await writeFile(join(dir, 'admin.pw'), 'Correct-Horse-Battery-9\n')
      await writeFile(join(dir, 'sso.secret'), `${CLIENT_SECRET}\n`)
      const init = expectExit(await runTether(['server', 'init', '--data-dir', dataDir, '--admin-password-file', join(dir, 'admin.pw'), '--json'], {env}), 0)
      caFile = json<{tls: {caFile: string}}>(init).tls.caFile
      server = startTether(['server', 'start', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'], {env})
      url = (await waitForOutput(server, LISTENING)).match(LISTENING)![1]
    })

    after(async () => {
      if (server && server.exitCode === null) {
        const exited = new Promise((resolve) => server!.once('exit', resolve))
        server.kill('SIGTERM')
        await exited
      }
      await idp?.stop()
      await database?.drop()
      await rm(dir, {recursive: true, force: true})
    })

    it('server sso set checks the IdP and reports its device endpoint; show prints the settings', async () => {
      const set = json<{issuer: string; endpoints: {deviceAuthorization: string | null}; groupRoles: unknown[]}>(
        expectExit(
          await runTether(
            [
              'server', 'sso', 'set', '--data-dir', dataDir, '--issuer', idp.issuer, '--client-id', CLIENT_ID, '--client-secret-file', join(dir, 'sso.secret'),
              '--issuer-ca', idp.caFile, '--group-role', 'Service Engineers=service-engineer', '--group-role', 'Tether Admins=admin', '--group-scope', 'Service Engineers=*', '--json',
            ],
            {env},
          ),
          0,
        ),
      )
      assert.equal(set.issuer, idp.issuer)
      assert.equal(set.endpoints.deviceAuthorization, `${idp.issuer}/device/auth`)
      assert.equal(set.groupRoles.length, 2)
      const shown = expectExit(await runTether(['server', 'sso', 'show', '--data-dir', dataDir], {env}), 0)
      assert.match(shown.stdout, /Group -> role:\s+Service Engineers -> service-engineer/)
      assert.doesNotMatch(shown.stdout, new RegExp(CLIENT_SECRET), 'never the client secret')
    })

    it('login --sso: URL printed (no browser started), IdP redirect to the loopback port, exit 0; whoami shows the mapped role', async () => {
      const login = expectExit(await ssoLogin('alice', 'alice-sub', ['--json']), 0)
      const result = json<{status: string; username: string; role: string}>(login)
      assert.deepEqual([result.status, result.username, result.role], ['logged-in', 'alice', 'service-engineer'])
      assert.doesNotMatch(login.stderr, /Continue in your browser/, 'TETHER_NO_BROWSER=1: no browser was started')
      const who = json<{username: string; role: string}>(expectExit(await tether('alice', ['whoami', '--json']), 0))
      assert.deepEqual([who.username, who.role], ['alice', 'service-engineer'])
    })

    it('login --sso --device: code and URL printed, confirmed at the IdP on "another device", exit 0', async () => {
      const child = startTether(['login', '--sso', '--device', '--server', url, '--ca', caFile], {env: as('erin')})
      const result = finished(child)
      const shown = (await waitForOutput(child, CODE_SHOWN)).match(CODE_SHOWN)!
      assert.equal(shown[1], `${idp.issuer}/device`)
      await idp.browseDevice(shown[3], 'erin-sub')
      const login = expectExit(await result, 0)
      assert.match(login.stdout, /Logged in to .* as erin \(admin\)\./)
      const who = json<{username: string; role: string}>(expectExit(await tether('erin', ['whoami', '--json']), 0))
      assert.deepEqual([who.username, who.role], ['erin', 'admin'])
    })

    it('users list shows who signs in with SSO', async () => {
      const list = json<{users: Array<{username: string; sso: string | null}>}>(expectExit(await tether('erin', ['users', 'list', '--json']), 0))
      assert.deepEqual(
        list.users.map((u) => [u.username, u.sso]),
        [
          ['admin', null],
          ['alice', idp.issuer],
          ['erin', idp.issuer],
        ],
      )
      const csv = expectExit(await tether('erin', ['users', 'list', '--columns', 'username,sign-in', '--csv', '--no-header']), 0)
      assert.equal(csv.stdout, 'admin,password\nalice,sso\nerin,sso\n')
    })

    it('login --sso into an enrolment-only session: the password login guidance, then --totp twice, as for password logins', async () => {
      const first = expectExit(await ssoLogin('carol', 'carol-sub'), 3)
      assert.match(first.stdout, /Multi-factor authentication must be set up for this account\./)
      assert.match(first.stdout, /Then run the same `tether login` again with --totp CODE to confirm and log in\./)
      assert.match(first.stderr, /MFA enrollment required: add the URI to an authenticator app, then rerun with --totp CODE/)
      const uri = first.stdout.match(/otpauth:\/\/totp\/\S+/)![0]
      const totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP
      const second = json<{status: string}>(expectExit(await ssoLogin('carol', 'carol-sub', ['--json', '--totp', totp.generate()]), 3))
      assert.equal(second.status, 'mfa-enabled')
      const third = json<{status: string; role: string; mfaEnrolled: boolean}>(
        expectExit(await ssoLogin('carol', 'carol-sub', ['--json', '--totp', totp.generate({timestamp: Date.now() + 30_000})]), 0),
      )
      assert.deepEqual([third.status, third.role, third.mfaEnrolled], ['logged-in', 'service-engineer', true])
    })

    it('server sso disable: sign-ins are refused with a clear error; show exits 5', async () => {
      const disabled = json<{removed: boolean}>(expectExit(await runTether(['server', 'sso', 'disable', '--data-dir', dataDir, '--json'], {env}), 0))
      assert.equal(disabled.removed, true)
      expectExit(await runTether(['server', 'sso', 'show', '--data-dir', dataDir], {env}), 5)
      const refused = expectExit(await tether('alice', ['login', '--sso', '--server', url, '--ca', caFile]), 5)
      assert.match(refused.stderr.split('\n')[0], /single sign-on is not configured on this server/)
      assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace')
    })
  })
}
