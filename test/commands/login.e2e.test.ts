import {strict as assert} from 'node:assert'
import {type ChildProcess, spawnSync} from 'node:child_process'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import * as OTPAuth from 'otpauth'
import {openDatabase} from '../../src/server/db/connect.js'
import {BIN, type RunResult, runTether, startTether, waitForOutput} from '../helpers/cli.js'
import {createTestDatabase, DB_KINDS, type TestDatabase} from '../server/helpers/database.js'

const LISTENING = /tether server listening on (https:\/\/127\.0\.0\.1:\d+)/
const PASSWORD = 'Correct-Horse-Battery-9'
const ACCESS_TTL_SECONDS = 4

/** The code for now (+ steps periods ahead: servers accept the next step, and refuse replays). */
function totp(uri: string, steps = 0): string {
  return (OTPAuth.URI.parse(uri) as OTPAuth.TOTP).generate({timestamp: Date.now() + steps * 30_000})
}

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

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))))
}

for (const kind of DB_KINDS) {
  describe(`admin CLI against a real server (${kind})`, function () {
    this.timeout(120_000)
    let dir: string
    let database: TestDatabase | undefined
    let server: ChildProcess | undefined
    let url: string
    let caFile: string
    let caFingerprint: string
    /** Each user runs with their own config dir, like separate workstations. */
    const as = (who: string, extra: Record<string, string | undefined> = {}) => ({
      env: {TETHER_CONFIG_DIR: join(dir, `cfg-${who}`), TETHER_CREDENTIAL_STORE: 'file', TETHER_SERVER: undefined, TETHER_TOKEN: undefined, TETHER_CA: undefined, ...extra},
    })
    const tether = (who: string, args: string[], input?: string, extra?: Record<string, string | undefined>) => runTether(args, {...as(who, extra), input})

    /** Full non-interactive MFA enrolment: URI (exit 3), confirm (exit 3), log in (exit 0). */
    async function loginWithEnrollment(who: string, username: string, password: string): Promise<Record<string, unknown>> {
      const base = ['login', '--server', url, '--ca', caFile, '--username', username, '--password-stdin', '--json']
      const first = json<{status: string; otpauthUri: string}>(expectExit(await tether(who, base, password), 3))
      assert.equal(first.status, 'mfa-enrollment-required')
      assert.match(first.otpauthUri, /^otpauth:\/\/totp\//)
      const second = json<{status: string; mfaEnrolled: boolean}>(expectExit(await tether(who, [...base, '--totp', totp(first.otpauthUri)], password), 3))
      assert.equal(second.status, 'mfa-enabled')
      assert.equal(second.mfaEnrolled, true)
      const third = json(expectExit(await tether(who, [...base, '--totp', totp(first.otpauthUri, 1)], password), 0))
      assert.equal(third.status, 'logged-in')
      // The login right after the enrolment says so.
      assert.equal(third.mfaEnrolled, true)
      return third
    }

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tether-admin-e2e-'))
      database = kind === 'postgres' ? await createTestDatabase('postgres') : undefined
      const env = {TETHER_DATABASE_URL: database?.url}
      await writeFile(join(dir, 'admin.pw'), `${PASSWORD}\n`)
      const init = await runTether(['server', 'init', '--data-dir', join(dir, 'data'), '--admin-password-file', join(dir, 'admin.pw'), '--json'], {env})
      expectExit(init, 0)
      const initDoc = json<{tls: {caFile: string}; caFingerprint: string}>(init)
      caFile = initDoc.tls.caFile
      caFingerprint = initDoc.caFingerprint
      // Short-lived access tokens, so that the CLI's automatic refresh is exercised for real.
      const configFile = join(dir, 'data', 'config.json')
      const config = JSON.parse(await readFile(configFile, 'utf8'))
      config.auth.accessTokenTtlSeconds = ACCESS_TTL_SECONDS
      await writeFile(configFile, JSON.stringify(config, null, 2))
      server = startTether(['server', 'start', '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'], {env})
      url = (await waitForOutput(server, LISTENING)).match(LISTENING)![1]
    })

    after(async () => {
      if (server && server.exitCode === null) {
        server.kill('SIGTERM')
        const timer = setTimeout(() => server?.kill('SIGKILL'), 10_000)
        await exitOf(server)
        clearTimeout(timer)
      }
      await database?.drop()
      await rm(dir, {recursive: true, force: true})
    })

    it('refuses an untrusted server certificate with a hint', async () => {
      const r = expectExit(await tether('nobody', ['login', '--server', url, '--username', 'admin', '--password-stdin'], PASSWORD), 7)
      assert.match(r.stderr, /certificate not trusted: pass --ca or --fingerprint/)
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
    })

    it('names the device CA as the wrong --ca file and tls/ca.crt as the right one', async () => {
      const deviceCa = join(dir, 'data', 'device-ca', 'ca.crt')
      const r = expectExit(await tether('nobody', ['login', '--server', url, '--ca', deviceCa, '--username', 'admin', '--password-stdin'], PASSWORD), 7)
      assert.equal(
        r.stderr.split('\n')[0],
        `Error: certificate not trusted: this CA (--ca ${deviceCa}, "Tether Device CA") did not sign the server's certificate; the server's CA is ${caFile}, not device-ca/ca.crt (that CA signs devices)`,
      )
    })

    it('refuses a wrong password with exit 3', async () => {
      expectExit(await tether('nobody', ['login', '--server', url, '--ca', caFile, '--username', 'admin', '--password-stdin'], 'wrong-password'), 3)
    })

    it('logs the admin in with MFA enrolment and stores the session in a 0600 file', async () => {
      const result = await loginWithEnrollment('admin', 'admin', PASSWORD)
      assert.equal(result.credentialStore, 'file')
      assert.match(String(result.location), /credentials\.json \(0600; no OS keychain available\)/)
      assert.equal((await stat(join(dir, 'cfg-admin', 'credentials.json'))).mode & 0o777, 0o600)
      const who = json(expectExit(await tether('admin', ['whoami', '--json']), 0))
      assert.equal(who.username, 'admin')
      assert.equal(who.role, 'admin')
      assert.equal(who.server, url)
      assert.equal(who.credentialStore, 'file')
      assert.ok((who.permissions as string[]).includes('users:manage'))
      const human = expectExit(await tether('admin', ['whoami']), 0)
      assert.match(human.stdout, /stored in .*credentials\.json \(0600; no OS keychain available\)/)
    })

    it('refreshes an expired access token once and stores the rotated pair', async () => {
      const file = join(dir, 'cfg-admin', 'credentials.json')
      const before = Object.values(JSON.parse(await readFile(file, 'utf8')).sessions)[0] as {refreshToken: string}
      await new Promise((resolve) => setTimeout(resolve, (ACCESS_TTL_SECONDS + 1) * 1000))
      const who = json(expectExit(await tether('admin', ['whoami', '--json']), 0))
      assert.equal(who.username, 'admin')
      const after = Object.values(JSON.parse(await readFile(file, 'utf8')).sessions)[0] as {refreshToken: string}
      assert.notEqual(after.refreshToken, before.refreshToken, 'the rotated refresh token was stored')
      assert.equal((await stat(file)).mode & 0o777, 0o600)
      expectExit(await tether('admin', ['whoami']), 0)
    })

    it('manages customers, sites and devices', async () => {
      expectExit(await tether('admin', ['customers', 'add', 'st-mary', '--name', "St. Mary's"]), 0)
      expectExit(await tether('admin', ['customers', 'add', 'acme', '--name', 'Acme Labs']), 0)
      expectExit(await tether('admin', ['customers', 'add', 'acme', '--name', 'Again']), 6)
      expectExit(await tether('admin', ['customers', 'add', 'Bad Slug', '--name', 'x']), 2)
      expectExit(await tether('admin', ['sites', 'add', 'st-mary-icu', '--customer', 'st-mary', '--name', 'ICU']), 0)
      const sites = json<{sites: Array<{id: string}>}>(expectExit(await tether('admin', ['sites', 'list', '--customer', 'st-mary', '--json']), 0))
      assert.deepEqual(sites.sites.map((s) => s.id), ['st-mary-icu'])
      const dev = json(expectExit(await tether('admin', ['devices', 'add', '--serial', 'SN-1', '--model', 'X200', '--customer', 'st-mary', '--site', 'st-mary-icu', '--label', 'room=3', '--json']), 0))
      assert.deepEqual(dev.labels, {room: '3'})
      expectExit(await tether('admin', ['devices', 'add', '--serial', 'SN-2', '--model', 'X200', '--customer', 'acme']), 0)
      const list = json<{devices: Array<{serial: string}>}>(expectExit(await tether('admin', ['devices', 'list', '--json']), 0))
      assert.deepEqual(list.devices.map((d) => d.serial).sort(), ['SN-1', 'SN-2'])
      const table = expectExit(await tether('admin', ['devices', 'list', '--label', 'room=3']), 0)
      assert.match(table.stdout, /SN-1/)
      assert.doesNotMatch(table.stdout, /SN-2/)
      expectExit(await tether('admin', ['devices', 'show', 'NOPE']), 5)
      // An API field is named as the flag, once, with the command that fixes it.
      const noSite = expectExit(await tether('admin', ['devices', 'add', '--serial', 'SN-3', '--model', 'X200', '--customer', 'st-mary', '--site', 'icu']), 2)
      assert.equal(noSite.stderr.split('\n')[0], 'Error: --site: customer st-mary has no site "icu"; add it with tether sites add icu --customer st-mary')
    })

    it('list commands take --columns, --csv and --no-header, and fit the terminal width', async () => {
      const csv = expectExit(await tether('admin', ['customers', 'list', '--columns', 'name,id', '--csv']), 0)
      assert.equal(csv.stdout, 'Name,ID\nAcme Labs,acme\nSt. Mary\'s,st-mary\n')
      const bare = expectExit(await tether('admin', ['customers', 'list', '--columns', 'id', '--csv', '--no-header']), 0)
      assert.equal(bare.stdout, 'acme\nst-mary\n')
      const bad = expectExit(await tether('admin', ['customers', 'list', '--columns', 'id,colour']), 2)
      assert.equal(bad.stderr.split('\n')[0], 'Error: --columns: no column "colour" (columns: id, name, created)')
      const devices = expectExit(await tether('admin', ['devices', 'list', '--columns', 'serial,customer', '--csv', '--no-header']), 0)
      assert.equal(devices.stdout, 'SN-1,st-mary\nSN-2,acme\n')
      const narrow = expectExit(await tether('admin', ['customers', 'list'], undefined, {COLUMNS: '30'}), 0)
      for (const line of narrow.stdout.trimEnd().split('\n')) assert.ok(line.length <= 30, `${line.length} > 30: ${line}`)
      assert.match(narrow.stdout, /acme/)
    })

    it('creates a scoped engineer who logs in, makes a token, and the token works as TETHER_TOKEN', async () => {
      const created = json<{user: {username: string; scope: unknown}; initialPassword: string}>(
        expectExit(await tether('admin', ['users', 'add', '--username', 'eng1', '--role', 'service-engineer', '--customer', 'st-mary', '--json']), 0),
      )
      assert.deepEqual(created.user.scope, {all: false, entries: [{customer: 'st-mary', site: null}]})
      assert.ok(created.initialPassword, 'the server generated a password')
      const users = json<{users: Array<{username: string}>}>(expectExit(await tether('admin', ['users', 'list', '--json']), 0))
      assert.deepEqual(users.users.map((u) => u.username).sort(), ['admin', 'eng1'])

      await loginWithEnrollment('eng1', 'eng1', created.initialPassword)
      expectExit(await tether('eng1', ['users', 'list']), 4)
      const token = json<{token: string; info: {permissions: string[]}}>(
        expectExit(await tether('eng1', ['tokens', 'create', '--name', 'inventory', '--permission', 'devices:read', '--ttl', '7d', '--json']), 0),
      )
      assert.match(token.token, /^tth_/)
      assert.deepEqual(token.info.permissions, ['devices:read'])

      // A script: no stored session at all, only the environment.
      const env = {TETHER_TOKEN: token.token, TETHER_SERVER: url, TETHER_CA: caFile}
      const devices = json<{devices: Array<{serial: string}>}>(expectExit(await tether('script', ['devices', 'list', '--json'], undefined, env), 0))
      assert.deepEqual(devices.devices.map((d) => d.serial), ['SN-1'], 'scope hides acme')
      expectExit(await tether('script', ['devices', 'show', 'SN-2'], undefined, env), 5)
      const who = json(expectExit(await tether('script', ['whoami', '--json'], undefined, env), 0))
      assert.equal(who.credentialStore, 'env')
      assert.equal(who.auth, 'api-token')
      // The fingerprint works in place of the CA file.
      const pinned = {TETHER_TOKEN: token.token, TETHER_SERVER: url, TETHER_FINGERPRINT: caFingerprint}
      expectExit(await tether('script', ['devices', 'list'], undefined, pinned), 0)
      // Without TETHER_CA or TETHER_FINGERPRINT a script is told which one to set.
      const anchorless = expectExit(await tether('script', ['devices', 'list'], undefined, {TETHER_TOKEN: token.token, TETHER_SERVER: url}), 7)
      assert.equal(
        anchorless.stderr.split('\n')[0],
        "Error: certificate not trusted: TETHER_TOKEN is set but no trust anchor is: set TETHER_CA to the server's CA file or TETHER_FINGERPRINT to its SHA-256 fingerprint",
      )

      const tokens = json<{tokens: Array<{id: string}>}>(expectExit(await tether('eng1', ['tokens', 'list', '--json']), 0))
      expectExit(await tether('eng1', ['tokens', 'revoke', tokens.tokens[0].id]), 0)
      const revoked = expectExit(await tether('script', ['devices', 'list'], undefined, env), 3)
      // A dead token needs a new token, not a login.
      assert.equal(revoked.stderr.split('\n')[0], 'Error: API token was revoked: create a new one and set TETHER_TOKEN to it')
      assert.match(revoked.stderr, /→ tether tokens create --name NAME/)
    })

    it('changes role and scope, disables and enables users', async () => {
      const scoped = json<{scope: {all: boolean; entries: Array<{customer: string; site: string | null}>}}>(
        expectExit(await tether('admin', ['users', 'set-scope', 'eng1', '--customer', 'st-mary/st-mary-icu', '--customer', 'acme', '--json']), 0),
      )
      assert.equal(scoped.scope.all, false)
      assert.deepEqual(scoped.scope.entries.map((e) => `${e.customer}/${e.site}`).sort(), ['acme/null', 'st-mary/st-mary-icu'])
      const role = json<{role: string}>(expectExit(await tether('admin', ['users', 'set-role', 'eng1', '--role', 'viewer', '--json']), 0))
      assert.equal(role.role, 'viewer')
      expectExit(await tether('admin', ['users', 'disable', 'eng1']), 0)
      expectExit(await tether('eng1', ['whoami']), 3)
      const enabled = json<{disabled: boolean}>(expectExit(await tether('admin', ['users', 'enable', 'eng1', '--json']), 0))
      assert.equal(enabled.disabled, false)
      expectExit(await tether('admin', ['users', 'show', 'nobody']), 5)
    })

    it('keeps the session in the OS keychain when a Secret Service runs (gnome-keyring under dbus-run-session)', async function () {
      const missing = ['dbus-run-session', 'gnome-keyring-daemon'].filter((bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0)
      if (missing.length) this.skip() // reason: dbus-run-session / gnome-keyring-daemon not installed
      await writeFile(join(dir, 'viewer.pw'), 'Viewer-Password-123\n')
      expectExit(await tether('admin', ['users', 'add', '--username', 'viewer1', '--role', 'viewer', '--customer', 'st-mary', '--password-stdin'], 'Viewer-Password-123\n'), 0)
      const home = join(dir, 'keyring-home')
      const cfg = join(dir, 'cfg-keychain')
      const cli = `'${process.execPath}' '${BIN}'`
      const script = [
        `mkdir -p '${home}' && chmod 700 '${home}'`,
        'echo -n test-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null',
        `${cli} login --server ${url} --ca '${caFile}' --username viewer1 --password-stdin < '${join(dir, 'viewer.pw')}'`,
        `${cli} whoami`,
        `ls '${cfg}'`,
        `${cli} logout`,
      ].join(' && ')
      const env: NodeJS.ProcessEnv = {...process.env, HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_RUNTIME_DIR: home, TETHER_CONFIG_DIR: cfg, NO_COLOR: '1'}
      for (const v of ['TETHER_CREDENTIAL_STORE', 'TETHER_TOKEN', 'TETHER_SERVER', 'TETHER_CA']) delete env[v]
      const out = spawnSync('dbus-run-session', ['--', 'sh', '-c', script], {env, encoding: 'utf8', timeout: 60_000})
      assert.equal(out.status, 0, `${out.stdout}\n${out.stderr}`)
      assert.match(out.stdout, /Credentials stored in the OS keychain\./)
      assert.match(out.stdout, /Credentials\s+stored in the OS keychain/)
      assert.doesNotMatch(out.stdout, /credentials\.json/, 'no credentials file beside config.json')
      assert.match(out.stdout, /Logged out/)
    })

    it('exports the audit log to a file and stdout, and verifies the chain', async () => {
      const out = join(dir, 'audit.jsonl')
      const exported = json<{bytes: number}>(expectExit(await tether('admin', ['audit', 'export', '--since', '1h', '-o', out, '--json']), 0))
      const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as {action: string; seq: number})
      assert.equal(exported.bytes, (await stat(out)).size)
      assert.ok(lines.some((e) => e.action === 'customer.create'), 'customer.create is audited')
      assert.equal((await stat(out)).mode & 0o777, 0o600)
      const csv = expectExit(await tether('admin', ['audit', 'export', '--format', 'csv', '--user', 'eng1']), 0)
      assert.match(csv.stdout.split('\n')[0], /seq/)
      assert.ok(csv.stdout.trim().split('\n').length > 1)
      const ok = expectExit(await tether('admin', ['audit', 'verify']), 0)
      assert.match(ok.stdout, /^ok: /)
    })

    it('audit verify exits 1 and names the problem after tampering', async () => {
      const opened = await openDatabase(database?.url ?? join(dir, 'data', 'tether.db'))
      try {
        await opened.db.updateTable('audit_events').set({action: 'tampered'}).where('seq', '=', 2).execute()
      } finally {
        await opened.close()
      }
      const r = expectExit(await tether('admin', ['audit', 'verify', '--json']), 1)
      const doc = json<{ok: boolean; problems: Array<{seq: number; kind: string}>}>(r)
      assert.equal(doc.ok, false)
      assert.ok(doc.problems.some((p) => p.seq === 2 && p.kind === 'edited'), JSON.stringify(doc.problems))
      const human = expectExit(await tether('admin', ['audit', 'verify']), 1)
      assert.match(human.stdout, /edited/)
      assert.match(human.stderr, /audit chain is broken/)
    })

    it('logs out: the session is revoked and deleted', async () => {
      const creds = JSON.parse(await readFile(join(dir, 'cfg-admin', 'credentials.json'), 'utf8'))
      const [session] = Object.values(creds.sessions) as Array<{refreshToken: string}>
      const r = json<{revoked: boolean}>(expectExit(await tether('admin', ['logout', '--json']), 0))
      assert.equal(r.revoked, true)
      expectExit(await tether('admin', ['whoami']), 3)
      const after = JSON.parse(await readFile(join(dir, 'cfg-admin', 'credentials.json'), 'utf8'))
      assert.deepEqual(after.sessions, {})
      // The old refresh token no longer works on the server.
      assert.equal(await fetchRefresh(url, caFile, session.refreshToken), 'SESSION_EXPIRED')
      // `tether login` with no --server and no --ca reuses both: the server answers (a wrong
      // password, exit 3), so the saved CA was trusted (an untrusted server would be exit 7).
      const again = expectExit(await tether('admin', ['login', '--username', 'admin', '--password-stdin'], 'wrong-password'), 3)
      assert.match(again.stderr, /^Error: login failed: /)
    })
  })
}

/** POST /auth/refresh with a given token, through our own client (trusting the CA file). */
async function fetchRefresh(server: string, caFile: string, refreshToken: string): Promise<string> {
  const {ApiClient} = await import('../../src/client/api-client.js')
  const client = new ApiClient({server, trust: {ca: await readFile(caFile, 'utf8')}, refreshToken})
  try {
    await client.refresh()
    return 'refreshed'
  } catch (error) {
    return (error as {code?: string}).code ?? String(error)
  } finally {
    await client.close()
  }
}
