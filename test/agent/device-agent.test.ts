import {strict as assert} from 'node:assert'
import nock from 'nock'
import {mkdir, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {DeviceAgent} from '../../src/agent/agent.js'
import type {AgentConfig} from '../../src/agent/data-dir.js'
import {readStatus} from '../../src/agent/status-file.js'
import {MAX_FRAME_BYTES} from '../../src/protocol/agent/messages.js'
import {testCa} from '../checks/fixtures/certs.js'
import {FakeControlServer} from './helpers/fake-control-server.js'
import {runScriptedAgent, scriptedConfig} from './helpers/scripted-agent.js'

const quiet = process.env.AGENT_DEBUG ? {info: (o: object, m: string) => console.log("I", m, o), warn: (o: object, m: string) => console.log("W", m, o), error: (o: object, m: string) => console.log("E", m, o)} : {info: () => undefined, warn: () => undefined, error: () => undefined}

describe('DeviceAgent against a scripted server (real mTLS WebSocket on loopback)', function () {
  this.timeout(30_000)
  let dir: string
  let server: FakeControlServer
  let agent: DeviceAgent | undefined
  let running: Promise<void> | undefined

  // nock's passthrough re-creates http(s) requests and drops ws's createConnection, so the
  // agent's own verified TLS socket would be bypassed. Every connection here is to 127.0.0.1.
  before(() => nock.restore())
  after(() => nock.activate())

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-device-agent-'))
    server = await FakeControlServer.start()
  })
  afterEach(async () => {
    await agent?.stop()
    await running
    agent = undefined
    await server.stop()
    await rm(dir, {recursive: true, force: true})
  })

  function startAgent(overrides: Partial<AgentConfig> = {}, serverCa = server.ca.cert): DeviceAgent {
    const started = runScriptedAgent(server, dir, {config: scriptedConfig(server, {model: 'X200', allowedTunnelPorts: [22], ...overrides}), serverCa, log: quiet})
    ;({agent, running} = started)
    return started.agent
  }

  const connected = (): Promise<void> => server.until(() => agent?.state === 'connected', 'agent connected')

  it('says hello with its versions and inventory over mTLS, then serves requests', async () => {
    startAgent()
    await connected()
    const conn = server.connections[0]
    assert.equal(conn.clientCertCn, 'SN-FAKE')
    const hello = conn.received[0] as {type: string; protocolVersions: number[]; inventory: {serial: string; model: string; agentVersion: string; accessMode: {mode: string}}}
    assert.equal(hello.type, 'hello')
    assert.deepEqual(hello.protocolVersions, [1])
    assert.equal(hello.inventory.serial, 'SN-FAKE')
    assert.equal(hello.inventory.agentVersion, '9.9.9')
    assert.equal(hello.inventory.accessMode.mode, 'allow')
    conn.ws.send(JSON.stringify({type: 'request', id: 'r1', kind: 'ping'}))
    await server.until(() => conn.received.some((m) => m.id === 'r1'), 'ping answer')
    assert.deepEqual(conn.received.find((m) => m.id === 'r1'), {type: 'response', id: 'r1', ok: true, result: {pong: true}})
  })

  it('answers malformed and unknown messages with `error` and stays connected', async () => {
    startAgent()
    await connected()
    const conn = server.connections[0]
    conn.ws.send('{not json')
    conn.ws.send(JSON.stringify({type: 'teleport', id: 'x1'}))
    conn.ws.send(JSON.stringify({type: 'request', id: 'x2', kind: 'tunnel.open', params: {target: 'nowhere'}}))
    await server.until(() => conn.received.filter((m) => m.type === 'error').length === 3, 'three error replies')
    const codes = conn.received.filter((m) => m.type === 'error').map((m) => m.code)
    assert.deepEqual(codes, ['MALFORMED', 'UNKNOWN_TYPE', 'INVALID_MESSAGE'])
    conn.ws.send(JSON.stringify({type: 'request', id: 'r2', kind: 'ping'}))
    await server.until(() => conn.received.some((m) => m.id === 'r2'), 'still answering')
    assert.equal(agent!.state, 'connected')
    assert.equal(server.connections.length, 1)
  })

  it('an oversized frame closes the link cleanly (1009); the agent comes back by itself', async () => {
    startAgent()
    await connected()
    server.connections[0].ws.send(JSON.stringify({type: 'request', id: 'big', kind: 'ping', pad: 'x'.repeat(MAX_FRAME_BYTES + 1024)}))
    await server.until(() => server.connections.length === 2 && agent?.state === 'connected', 'reconnected after oversized frame')
  })

  it('a failing request handler answers INTERNAL and never takes the connection down', async () => {
    // policy.json as a directory: reading it fails inside the policy guard.
    await mkdir(join(dir, 'policy.json'), {recursive: true})
    startAgent()
    await connected()
    const conn = server.connections[0]
    conn.ws.send(JSON.stringify({type: 'request', id: 's1', kind: 'tunnel.open', params: {streamId: 'stream-0001', ticket: 't'.repeat(32), target: {host: '127.0.0.1', port: 22}, user: 'eng'}}))
    await server.until(() => conn.received.some((m) => m.id === 's1'), 'an answer')
    const answer = conn.received.find((m) => m.id === 's1') as {ok: boolean; error: {code: string}}
    assert.equal(answer.ok, false)
    assert.equal(answer.error.code, 'INTERNAL')
    conn.ws.send(JSON.stringify({type: 'request', id: 'p', kind: 'ping'}))
    await server.until(() => conn.received.some((m) => m.id === 'p'), 'still alive')
  })

  it('drops a silent (half-open) link after the heartbeat timeout and reconnects', async () => {
    server.heartbeatTimeoutMs = 400
    startAgent()
    await connected()
    const t0 = Date.now()
    // The fake server sends nothing more (no pings): the agent must give up on its own.
    await server.until(() => server.connections.length >= 2, 'a second connection', 5000)
    const took = Date.now() - t0
    assert.ok(took >= 350 && took < 3000, `dropped after ${took}ms`)
  })

  it('bye revoked + close 4003: state revoked, no hammering', async () => {
    startAgent()
    await connected()
    const conn = server.connections[0]
    server.refuseWith = 403
    conn.ws.send(JSON.stringify({type: 'bye', reason: 'revoked'}))
    conn.ws.close(4003, 'revoked')
    await server.until(() => agent?.state === 'revoked', 'revoked')
    const upgrades = server.upgrades
    await new Promise((resolve) => setTimeout(resolve, 800))
    assert.equal(server.upgrades, upgrades, 'a revoked agent does not retry quickly')
  })

  it('a server that speaks none of its protocol versions: clear last error, and it keeps retrying', async () => {
    server.onHello = (conn) => {
      conn.ws.send(JSON.stringify({type: 'error', code: 'UNSUPPORTED_VERSION', message: 'server speaks 7'}))
      conn.ws.close(1002, 'unsupported version')
    }
    startAgent()
    await server.until(() => server.connections.length >= 2, 'a retry')
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.match((await readStatus(join(dir, 'status.json')))!.lastError!, /speaks none of this agent's protocol versions \(1\): server speaks 7/)
  })

  it('403 at the upgrade: revoked with a clear message', async () => {
    server.refuseWith = 403
    startAgent()
    await server.until(() => agent?.state === 'revoked', 'revoked')
    assert.equal(server.upgrades, 1)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.match((await readStatus(join(dir, 'status.json')))!.lastError!, /device certificate revoked or unknown.*403 device revoked/)
  })

  it('retries with backoff while the server refuses (401), never faster than the window allows', async () => {
    server.refuseWith = 401
    startAgent({backoff: {baseMs: 100, capMs: 100, stableAfterMs: 60_000, revokedRetryMs: 600_000}})
    await new Promise((resolve) => setTimeout(resolve, 1000))
    // Full jitter in [0, 100ms) plus the handshake: some retries, but bounded.
    assert.ok(server.upgrades >= 3 && server.upgrades <= 60, `${server.upgrades} attempts in 1 s`)
    assert.equal(agent!.state === 'waiting' || agent!.state === 'connecting', true)
  })

  it('refuses a server whose certificate comes from another CA, and one whose certificate has expired', async () => {
    const other = await testCa('someone-else')
    startAgent({}, other.cert)
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.equal(server.connections.length, 0)
    assert.match((await readStatus(join(dir, 'status.json')))!.lastError!, /server certificate not trusted: SELF_SIGNED_CERT_IN_CHAIN/)
    await agent!.stop()
    await running
    await server.stop()
    const ca = await testCa('fake-center-2')
    server = await FakeControlServer.start({ca, serverCert: await ca.sign({cn: '127.0.0.1', ips: ['127.0.0.1'], notAfterDays: -1})})
    startAgent()
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.equal(server.connections.length, 0)
    assert.notEqual(agent!.state, 'connected')
    assert.match((await readStatus(join(dir, 'status.json')))!.lastError!, /server certificate not trusted: CERT_HAS_EXPIRED/)
  })
})
