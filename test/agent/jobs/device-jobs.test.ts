import {strict as assert} from 'node:assert'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import nock from 'nock'
import {DeviceAgent} from '../../../src/agent/agent.js'
import {systemClock} from '../../../src/agent/clock.js'
import {AgentConfig, agentFiles, writeAgentConfig} from '../../../src/agent/data-dir.js'
import {LocalAudit} from '../../../src/agent/local-audit.js'
import {TlsWebSocketDialer} from '../../../src/agent/transport.js'
import {BUILTIN_DIAGNOSTICS} from '../../../src/protocol/agent/index.js'
import {FakeControlServer, type FakeConnection} from '../helpers/fake-control-server.js'
import {FakeUploadServer} from '../logs/fake-upload-server.js'

const quiet = {info: () => undefined, warn: () => undefined, error: () => undefined}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed wire messages
type Msg = Record<string, any>

/** Jobs over a real mTLS control channel: the DeviceAgent against a scripted server. */
describe('DeviceAgent jobs over the control channel', function () {
  this.timeout(30_000)
  let dir: string
  let server: FakeControlServer
  let uploads: FakeUploadServer
  let agent: DeviceAgent | undefined
  let running: Promise<void> | undefined

  before(() => nock.restore())
  after(() => nock.activate())

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-agent-jobs-'))
    server = await FakeControlServer.start()
    uploads = await FakeUploadServer.start()
  })
  afterEach(async () => {
    await agent?.stop()
    await running
    agent = undefined
    await server.stop()
    await uploads.stop()
    await rm(dir, {recursive: true, force: true})
  })

  async function startAgent(overrides: Record<string, unknown> = {}): Promise<FakeConnection> {
    const config = AgentConfig.parse({version: 1, server: server.url.origin, serial: 'SN-JOBS', backoff: {baseMs: 50, capMs: 200, stableAfterMs: 60_000, revokedRetryMs: 600_000}, pollMs: 100, diagnostics: {hello: {command: ['/bin/echo', 'hi']}}, ...overrides})
    const files = agentFiles(dir)
    await writeAgentConfig(files, config)
    const dialer = new TlsWebSocketDialer({server: server.url, key: server.deviceCert.key, cert: server.deviceCert.cert, serverCa: server.ca.cert, timeoutMs: 3000})
    agent = new DeviceAgent({config, files, dialer, clock: systemClock, log: quiet, agentVersion: '9.9.9', proxyDisplay: null, uploadApi: () => uploads.api()})
    running = agent.run()
    await server.until(() => agent?.state === 'connected', 'agent connected')
    return server.connections[0]
  }

  const push = (conn: FakeConnection, jobId: string, kind: string, params: unknown): void =>
    conn.ws.send(JSON.stringify({type: 'job', jobId, kind, params, deadline: new Date(Date.now() + 60_000).toISOString()}))
  const updates = (conn: FakeConnection, jobId: string): Msg[] => conn.received.filter((m) => m.type === 'job-update' && m.jobId === jobId)
  const final = async (conn: FakeConnection, jobId: string): Promise<Msg> => {
    await server.until(() => updates(conn, jobId).some((u) => u.status !== 'running'), `final update of ${jobId}`)
    return updates(conn, jobId).find((u) => u.status !== 'running')!
  }

  it('reports its diagnostics catalogue and accepted job kinds in the inventory', async () => {
    const conn = await startAgent()
    const hello = conn.received[0] as {inventory: {diagnostics: string[]; jobKinds: string[]}}
    assert.deepEqual(hello.inventory.diagnostics, [...BUILTIN_DIAGNOSTICS, 'hello'])
    assert.deepEqual(hello.inventory.jobKinds, ['diagnostic', 'logs'])
  })

  it('runs a diagnostic job: running, then succeeded with real data; a customer script too', async () => {
    const conn = await startAgent()
    push(conn, 'j-sys', 'diagnostic', {name: 'system-info'})
    const done = await final(conn, 'j-sys')
    assert.equal(done.status, 'succeeded')
    assert.equal(done.result.name, 'system-info')
    assert.equal(done.result.data.agent.serial, 'SN-JOBS')
    assert.equal(updates(conn, 'j-sys')[0].status, 'running')
    push(conn, 'j-script', 'diagnostic', {name: 'hello'})
    assert.equal((await final(conn, 'j-script')).result.data.stdout, 'hi\n')
  })

  it('refuses a name outside the catalogue and a kind agent.json does not accept; both audited for the server too', async () => {
    const conn = await startAgent({acceptedJobKinds: ['diagnostics']})
    push(conn, 'j-unknown', 'diagnostic', {name: 'rm-rf'})
    push(conn, 'j-logs', 'logs', {})
    assert.deepEqual([(await final(conn, 'j-unknown')).error.code, (await final(conn, 'j-logs')).error.code], ['UNKNOWN_DIAGNOSTIC', 'KIND_NOT_ALLOWED'])
    assert.equal((await final(conn, 'j-logs')).status, 'refused')
    await server.until(() => conn.received.filter((m) => m.type === 'event' && m.action === 'device.job.refused').length === 2, 'refusals sent as events')
    const audit = await new LocalAudit(agentFiles(dir).audit).readAll()
    assert.equal(audit.filter((e) => e.action === 'device.job.refused').length, 2)
  })

  it('a job pushed twice runs once', async () => {
    const conn = await startAgent()
    push(conn, 'j-dup', 'diagnostic', {name: 'hello'})
    push(conn, 'j-dup', 'diagnostic', {name: 'hello'})
    await final(conn, 'j-dup')
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(updates(conn, 'j-dup').filter((u) => u.status === 'running').length, 1)
    const audit = await new LocalAudit(agentFiles(dir).audit).readAll()
    assert.equal(audit.filter((e) => e.action === 'job.finished').length, 1)
  })

  it('a job that ends while the link is down reports its final status on the next connection', async () => {
    const conn = await startAgent({diagnostics: {nap: {command: ['/bin/sleep', '0.7']}}})
    push(conn, 'j-nap', 'diagnostic', {name: 'nap'})
    await server.until(() => updates(conn, 'j-nap').some((u) => u.status === 'running'), 'running')
    conn.ws.terminate()
    await server.until(() => server.connections.length >= 2 && server.connections[1].received.some((m) => m.type === 'job-update' && m.jobId === 'j-nap'), 'final update on the new connection')
    const update = server.connections[1].received.find((m) => m.type === 'job-update' && m.jobId === 'j-nap') as Msg
    assert.equal(update.status, 'succeeded')
    assert.equal(update.result.data.exitCode, 0)
  })

  it('runs a logs job: collects, uploads on its own connection, reports the bundle', async () => {
    const logs = join(dir, 'logs')
    await mkdir(logs)
    await writeFile(join(logs, 'device.log'), 'line\n'.repeat(10_000))
    const conn = await startAgent({logSources: [`${logs}/*.log`]})
    push(conn, 'j-logs', 'logs', {})
    const done = await final(conn, 'j-logs')
    assert.equal(done.status, 'succeeded', JSON.stringify(done))
    const upload = [...uploads.uploads.values()][0]
    assert.equal(upload.jobId, 'j-logs')
    assert.equal(done.result.bundleId, upload.bundleId)
    assert.equal(done.result.size, upload.size)
  })
})
