import {strict as assert} from 'node:assert'
import {type ChildProcess} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import * as OTPAuth from 'otpauth'
import {type RunResult, runTether, startTether, waitForOutput} from '../helpers/cli.js'

const LISTENING = /tether server listening on (https:\/\/127\.0\.0\.1:\d+)/
const ADMIN_PASSWORD = 'Correct-Horse-Battery-9'

function expectExit(r: RunResult, code: number): RunResult {
  assert.equal(r.code, code, `exit ${r.code}, expected ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r
}
const json = <T = Record<string, unknown>>(r: RunResult): T => JSON.parse(r.stdout) as T

describe('tether passwd and users reset-password against a real server (sqlite)', function () {
  this.timeout(120_000)
  let dir: string
  let server: ChildProcess | undefined
  let url: string
  let caFile: string
  const tether = (who: string, args: string[], input?: string) =>
    runTether(args, {env: {TETHER_CONFIG_DIR: join(dir, `cfg-${who}`), TETHER_CREDENTIAL_STORE: 'file', TETHER_SERVER: undefined, TETHER_TOKEN: undefined, TETHER_CA: undefined}, input})
  const login = (who: string, username: string, password: string, extra: string[] = []) =>
    tether(who, ['login', '--server', url, '--ca', caFile, '--username', username, '--password-stdin', '--json', ...extra], password)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-passwd-e2e-'))
    await writeFile(join(dir, 'admin.pw'), `${ADMIN_PASSWORD}\n`)
    const init = expectExit(await runTether(['server', 'init', '--data-dir', join(dir, 'data'), '--admin-password-file', join(dir, 'admin.pw'), '--json'], {}), 0)
    caFile = json<{tls: {caFile: string}}>(init).tls.caFile
    server = startTether(['server', 'start', '--data-dir', join(dir, 'data'), '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'], {})
    url = (await waitForOutput(server, LISTENING)).match(LISTENING)![1]
    // The admin enrols MFA without a terminal: URI, confirm, log in with the next code.
    const code = (uri: string, steps = 0) => (OTPAuth.URI.parse(uri) as OTPAuth.TOTP).generate({timestamp: Date.now() + steps * 30_000})
    const uri = json<{otpauthUri: string}>(expectExit(await login('admin', 'admin', ADMIN_PASSWORD), 3)).otpauthUri
    expectExit(await login('admin', 'admin', ADMIN_PASSWORD, ['--totp', code(uri)]), 3)
    expectExit(await login('admin', 'admin', ADMIN_PASSWORD, ['--totp', code(uri, 1)]), 0)
  })

  after(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM')
      await new Promise((resolve) => server!.once('exit', resolve))
    }
    await rm(dir, {recursive: true, force: true})
  })

  it('passwd changes the own password, keeps this workstation logged in and ends the other session', async () => {
    expectExit(await tether('admin', ['users', 'add', '--username', 'vera', '--role', 'viewer', '--password-stdin', '--json'], 'Vera-first-pw-123'), 0)
    expectExit(await login('vera-laptop', 'vera', 'Vera-first-pw-123'), 0)
    expectExit(await login('vera-desk', 'vera', 'Vera-first-pw-123'), 0)

    const wrong = expectExit(await tether('vera-laptop', ['passwd', '--password-stdin'], 'Not-the-password-1\nVera-second-pw-456\n'), 2)
    assert.match(wrong.stderr, /--current-password: is not your current password/)
    const weak = expectExit(await tether('vera-laptop', ['passwd', '--password-stdin'], 'Vera-first-pw-123\nshort\n'), 2)
    assert.match(weak.stderr, /--new-password: password must be at least 12 characters/)

    await writeFile(join(dir, 'old.pw'), 'Vera-first-pw-123\n')
    await writeFile(join(dir, 'new.pw'), 'Vera-second-pw-456\n')
    const changed = json(expectExit(await tether('vera-laptop', ['passwd', '--current-password-file', join(dir, 'old.pw'), '--new-password-file', join(dir, 'new.pw'), '--json']), 0))
    assert.deepEqual(changed, {server: url, username: 'vera', sessionStored: true})
    // This workstation goes on with the new session; the other one must log in again.
    assert.equal(json(expectExit(await tether('vera-laptop', ['whoami', '--json']), 0)).username, 'vera')
    expectExit(await tether('vera-desk', ['whoami', '--json']), 3)
    expectExit(await login('vera-desk', 'vera', 'Vera-first-pw-123'), 3)
    expectExit(await login('vera-desk', 'vera', 'Vera-second-pw-456'), 0)
  })

  it('users reset-password shows a generated password once; the user logs in with it', async () => {
    const reset = json<{user: {username: string}; generatedPassword: string}>(expectExit(await tether('admin', ['users', 'reset-password', 'vera', '--json']), 0))
    assert.equal(reset.user.username, 'vera')
    expectExit(await tether('vera-laptop', ['whoami', '--json']), 3)
    expectExit(await login('vera-laptop', 'vera', reset.generatedPassword), 0)
    const given = expectExit(await tether('admin', ['users', 'reset-password', 'vera', '--password-stdin'], 'Vera-third-pw-789'), 0)
    assert.match(given.stdout, /Password of vera reset; their sessions have ended\./)
    assert.doesNotMatch(given.stdout, /New password/)
    expectExit(await login('vera-laptop', 'vera', 'Vera-third-pw-789'), 0)
  })
})
