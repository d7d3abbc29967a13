import {createServer, type AddressInfo} from 'node:net'
import {strict as assert} from 'node:assert'
import {execFileSync} from 'node:child_process'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {AgentUnderTest} from '../../agent/helpers/agent-process.js'
import {eventually, expectExit, json, SupportCenter} from '../../agent/helpers/support-center.js'

/**
 * The first hour on a device, against a real server and a running agent: settings changed with
 * `tether agent config` apply without a restart, and a re-enrolment keeps them and is picked up
 * by the running agent by itself.
 */
describe('agent config and re-enrolment on a running agent (e2e)', function () {
  this.timeout(180_000)
  let sc: SupportCenter
  let agent: AgentUnderTest
  const SERIAL = 'SN-CONFIG-1'
  let logDir: string

  before(async () => {
    sc = await SupportCenter.create()
    await sc.start()
    await sc.loginAdmin()
    agent = new AgentUnderTest(join(sc.dir, 'agent'))
    expectExit(await agent.run(['agent', 'enroll', '--server', sc.url, '--token', await sc.enrollToken(SERIAL, 'Analyzer X200'), '--ca', sc.caFile, '--json']), 0)
    await agent.tune()
    logDir = join(sc.dir, 'device-logs')
    await mkdir(logDir)
    await writeFile(join(logDir, 'analyzer.log'), '2026-11-22T10:00:00Z analyzer started\n'.repeat(100))
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')
  })
  after(async () => {
    await agent?.stop()
    await sc?.dispose()
  })

  const requestLogs = (): Promise<import('../../helpers/cli.js').RunResult> => sc.admin(['logs', 'request', SERIAL, '--wait', '--timeout', '60s', '--json'])

  it('reports the model the token was issued for in its inventory', async () => {
    await eventually(async () => ((await sc.device(SERIAL)).inventory as {model?: string} | null)?.model === 'Analyzer X200', 'inventory model')
  })

  it('applies a log source added with `agent config add` without a restart', async () => {
    const pid = agent.child?.pid
    const before = await requestLogs()
    assert.notEqual(before.code, 0, 'no log sources yet: the collection fails')
    assert.match(before.stdout + before.stderr, /NO_LOG_SOURCES|names no log sources/)

    const added = json<{key: string; value: string[]; changed: boolean}>(expectExit(await agent.run(['agent', 'config', 'add', 'logSources', join(logDir, '*.log'), '--json']), 0))
    assert.deepEqual(added.value, [join(logDir, '*.log')])
    assert.equal(added.changed, true)

    expectExit(await requestLogs(), 0)
    const out = join(sc.dir, 'pulled.tar.zst')
    expectExit(await sc.admin(['logs', 'pull', SERIAL, '-o', out, '--json']), 0)
    assert.match(execFileSync('tar', ['--zstd', '-tf', out], {encoding: 'utf8'}), /analyzer\.log/)
    assert.equal(agent.child?.pid, pid, 'the same agent process')
    assert.equal(agent.child?.exitCode, null)
  })

  it('applies a tunnel port allowed with `agent config add` to the next tunnel stream, without reconnecting', async () => {
    const echo = createServer({allowHalfOpen: true}, (s) => s.pipe(s))
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
    const port = String((echo.address() as AddressInfo).port)
    try {
      const connectedSince = (await agent.status()).connectedSince
      const before = expectExit(await sc.admin(['tunnels', 'connect', SERIAL, '--port', port], 'ping'), 4)
      assert.match(before.stderr, new RegExp(`port ${port} is not in this device's allowed tunnel ports`))
      expectExit(await agent.run(['agent', 'config', 'add', 'allowedTunnelPorts', port]), 0)
      const echoed = await eventually(async () => {
        const r = await sc.admin(['tunnels', 'connect', SERIAL, '--port', port], 'ping')
        return r.code === 0 ? r : undefined
      }, 'stream on the new port', 10_000, 300)
      assert.equal(echoed.stdout, 'ping')
      assert.equal((await agent.status()).connectedSince, connectedSince, 'same connection')
    } finally {
      echo.close()
    }
  })

  it('refuses an invalid value naming the field, exit 2, and the agent keeps running on the old settings', async () => {
    const r = expectExit(await agent.run(['agent', 'config', 'add', 'acceptedJobKinds', 'reboot']), 2)
    assert.match(r.stderr, /acceptedJobKinds: Invalid option: expected one of "diagnostics"\|"logs"\|"updates" \(given: reboot\)/)
    const doc = json<{error: {code: string; message: string}}>(expectExit(await agent.run(['agent', 'config', 'set', 'jobs.concurrency', '99', '--json']), 2))
    assert.match(doc.error.message, /^jobs\.concurrency: /)
  })

  it('re-enrolment keeps the settings, takes a token issued without --model, and the running agent reconnects with the new identity', async () => {
    const oldCert = await readFile(join(agent.dataDir, 'device.crt'), 'utf8')
    const connectedBefore = (await agent.status()).connectedSince
    const token = json<{token: string; model: string}>(expectExit(await sc.admin(['devices', 'enroll-token', '--serial', SERIAL, '--customer', 'st-mary', '--ttl', '1h', '--json']), 0))
    assert.equal(token.model, 'Analyzer X200', 'a registered device keeps its model')
    const enrolled = json<{settingsKept: boolean; model: string}>(expectExit(await agent.run(['agent', 'enroll', '--server', sc.url, '--token', token.token, '--ca', sc.caFile, '--force', '--json']), 0))
    assert.equal(enrolled.settingsKept, true)
    assert.equal(enrolled.model, 'Analyzer X200')
    assert.notEqual(await readFile(join(agent.dataDir, 'device.crt'), 'utf8'), oldCert)
    const config = JSON.parse(await readFile(join(agent.dataDir, 'agent.json'), 'utf8'))
    assert.deepEqual(config.logSources, [join(logDir, '*.log')], 'the log source survived the re-enrolment')
    assert.equal(config.pollMs, 200, 'tuned settings survived too')

    // Within seconds, not the 10-minute revoked retry: the agent sees the new files and redials.
    await eventually(async () => {
      const s = await agent.status()
      return s.state === 'connected' && s.connectedSince !== connectedBefore
    }, 'reconnected with the new certificate', 30_000)
    assert.match(agent.output, /device identity or route changed on disk; reconnecting/)
    expectExit(await requestLogs(), 0)
  })

  it('a revoked device that is enrolled again leaves `revoked` within seconds, not after the 10-minute retry', async () => {
    expectExit(await sc.admin(['devices', 'revoke', SERIAL, '--json']), 0)
    await eventually(async () => (await agent.status()).state === 'revoked', 'agent revoked', 30_000)
    const token = json<{token: string}>(expectExit(await sc.admin(['devices', 'enroll-token', '--serial', SERIAL, '--customer', 'st-mary', '--ttl', '1h', '--json']), 0)).token
    expectExit(await agent.run(['agent', 'enroll', '--server', sc.url, '--token', token, '--ca', sc.caFile, '--force', '--json']), 0)
    const started = Date.now()
    await eventually(async () => (await agent.status()).state === 'connected', 'connected again after re-enrolment', 30_000)
    assert.ok(Date.now() - started < 30_000)
    assert.equal(json<{online: boolean}>(expectExit(await sc.admin(['devices', 'show', SERIAL, '--json']), 0)).online, true)
  })
})
