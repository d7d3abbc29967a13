import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import nock from 'nock'
import {decideAccess, setAccess} from '../../src/agent/access.js'
import {DeviceAgent} from '../../src/agent/agent.js'
import {agentFiles, writeAgentConfig} from '../../src/agent/data-dir.js'
import {EventRecorder} from '../../src/agent/events.js'
import {LocalAudit} from '../../src/agent/local-audit.js'
import {checkDeviceEvent, DEVICE_EVENT_ACTIONS} from '../../src/protocol/agent/index.js'
import {FakeControlServer, type FakeConnection} from './helpers/fake-control-server.js'
import {runScriptedAgent, scriptedConfig} from './helpers/scripted-agent.js'
import {eventually} from './helpers/support-center.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed wire messages
type Msg = Record<string, any>

/**
 * The server records only the device events of its registry (device-events.ts) and refuses the
 * rest. Every code path of the agent that queues an event for the server is driven here, for
 * real, and every event it queued and sent must pass the registry's own check.
 */
describe('device events for the server', function () {
  this.timeout(30_000)
  let dir: string
  let server: FakeControlServer
  let agent: DeviceAgent | undefined
  let running: Promise<void> | undefined
  const warnings: string[] = []
  const log = {info: () => undefined, warn: (_o: object, m: string) => void warnings.push(m), error: () => undefined}

  before(() => nock.restore())
  after(() => nock.activate())
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-device-events-'))
    server = await FakeControlServer.start()
    warnings.length = 0
  })
  afterEach(async () => {
    await agent?.stop()
    await running
    agent = undefined
    await server.stop()
    await rm(dir, {recursive: true, force: true})
  })

  async function startAgent(): Promise<FakeConnection> {
    const config = scriptedConfig(server, {allowedTunnelPorts: [22], acceptedJobKinds: ['diagnostics']})
    const files = agentFiles(dir)
    await writeAgentConfig(files, config)
    ;({agent, running} = runScriptedAgent(server, dir, {config, log}))
    await server.until(() => agent?.state === 'connected', 'agent connected')
    return server.connections.at(-1)!
  }
  const outbox = () => new EventRecorder(agentFiles(dir)).outbox.pending()
  const sent = (conn: FakeConnection): Msg[] => conn.received.filter((m) => m.type === 'event')
  const ask = (conn: FakeConnection, id: string, port: number): void =>
    conn.ws.send(JSON.stringify({type: 'request', id, kind: 'tunnel.open', params: {streamId: `stream-${id}`, ticket: 't'.repeat(32), target: {host: '127.0.0.1', port}, user: 'eng'}}))
  const push = (conn: FakeConnection, jobId: string, kind: string, params: Msg): void =>
    conn.ws.send(JSON.stringify({type: 'job', jobId, kind, params, deadline: new Date(Date.now() + 60_000).toISOString()}))

  it('access set, an expiring allow, refused sessions, refused jobs and access decisions queue only events the registry accepts', async () => {
    const conn = await startAgent()
    const requestId = '5d0e4f7a-1b2c-4d3e-8f9a-0b1c2d3e4f5a'
    const params = {requestId, user: 'eve', reason: 'INC-1', ports: [22], durationSeconds: 3600, requestedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString()}
    conn.ws.send(JSON.stringify({type: 'request', id: 'a-1', kind: 'access.request', params}))
    await server.until(() => conn.received.some((m) => m.type === 'response' && m.id === 'a-1' && m.ok), 'access request stored')
    // Approved for 300 ms: the running agent then expires the grant by itself.
    await decideAccess(dir, requestId, 'approved', 300)
    ask(conn, 's-port', 23)
    push(conn, 'j-kind', 'logs', {since: '2026-01-01T00:00:00Z'})
    push(conn, 'j-name', 'diagnostic', {name: 'not-in-the-catalogue'})
    await setAccess(dir, 'allow', 300)
    // The running agent ends the temporary allow by itself; then no-access refuses the session.
    await server.until(() => sent(conn).filter((e) => e.action === 'device.access-mode.changed').length === 2, 'expiry reported', 5000)
    ask(conn, 's-mode', 22)
    await server.until(() => sent(conn).filter((e) => e.action === 'device.access.decided').length === 2, 'grant expiry reported', 5000)
    await server.until(() => sent(conn).length === 8, 'eight events sent')

    const queued = await outbox()
    assert.deepEqual(queued.map((e) => e.eventId).sort(), sent(conn).map((e) => e.eventId).sort(), 'the fake server acks nothing: all eight stay queued')
    for (const event of [...queued, ...sent(conn)]) {
      const check = checkDeviceEvent(event.action, event.details)
      assert.ok(check.ok, `${event.action}: ${JSON.stringify(check)} ${JSON.stringify(event.details)}`)
    }
    const actions = queued.map((e) => e.action)
    // device.session.ended needs a live stream: test/tunnels/tunnels.e2e.test.ts checks it against the registry;
    // device.update.step needs a signed update: test/agent/updates/*.test.ts (the recorder refuses a detail the registry would).
    assert.deepEqual([...new Set(actions)].sort(), DEVICE_EVENT_ACTIONS.filter((a) => a !== 'device.session.ended' && a !== 'device.update.step').sort())
    assert.deepEqual(
      queued.filter((e) => e.action !== 'device.access-mode.changed').map((e) => [e.action, e.details.code ?? e.details.decision]).sort(),
      [
        ['device.access.decided', 'approved'],
        ['device.access.decided', 'expired'],
        ['device.job.refused', 'KIND_NOT_ALLOWED'],
        ['device.job.refused', 'UNKNOWN_DIAGNOSTIC'],
        ['device.session.refused', 'PORT_NOT_ALLOWED'],
        ['device.session.refused', 'REFUSED_BY_DEVICE'],
      ],
    )
    // The local audit carries the same names and ids as what went to the server.
    const local = await new LocalAudit(agentFiles(dir).audit).readAll()
    assert.deepEqual(local.filter((e) => e.eventId).map((e) => [e.eventId, e.action]).sort(), queued.map((e) => [e.eventId, e.action]).sort())
  })

  it('EventRecorder refuses to queue an event outside the registry or with details it does not allow, and writes nothing', async () => {
    const recorder = new EventRecorder(agentFiles(dir))
    await assert.rejects(recorder.record({action: 'session.refused', outcome: 'denied', actor: 'server', details: {}}, {forServer: true}), (e: Error) => e instanceof TypeError && /UNKNOWN_ACTION/.test(e.message))
    await assert.rejects(
      recorder.record({action: 'device.access-mode.changed', outcome: 'success', actor: 'agent', details: {from: 'allow', to: 'no-access', note: 'extra'}}, {forServer: true}),
      (e: Error) => e instanceof TypeError && /INVALID_DETAILS/.test(e.message),
    )
    assert.deepEqual(await outbox(), [])
    assert.deepEqual(await recorder.audit.readAll(), [])
    // Local-only entries keep their free-form names.
    await recorder.record({action: 'session.accepted', outcome: 'success', actor: 'server', details: {anything: 1}}, {forServer: false})
    assert.equal((await recorder.audit.readAll()).length, 1)
  })

  it('an event-ack that refuses the event drops it for good, warns, and records agent.event.refused locally', async () => {
    const conn = await startAgent()
    conn.ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as Msg
      if (msg.type === 'event') conn.ws.send(JSON.stringify({type: 'event-ack', eventId: msg.eventId, refused: {code: 'INVALID_DETAILS', message: 'details.reason: too long'}}))
    })
    await setAccess(dir, 'no-access', undefined)
    await server.until(() => sent(conn).length === 1, 'the event sent')
    const eventId = sent(conn)[0].eventId as string
    const audit = new LocalAudit(agentFiles(dir).audit)
    await eventually(async () => (await audit.readAll()).some((e) => e.action === 'agent.event.refused'), 'refusal audited')
    const refusal = (await audit.readAll()).find((e) => e.action === 'agent.event.refused')!
    assert.equal(refusal.outcome, 'failure')
    assert.deepEqual(refusal.details, {eventId, action: 'device.access-mode.changed', code: 'INVALID_DETAILS', message: 'details.reason: too long'})
    assert.deepEqual(await outbox(), [])
    assert.ok(warnings.some((w) => /refused an event for good/.test(w)), warnings.join('; '))
    // After a reconnect nothing is sent again.
    conn.ws.terminate()
    await server.until(() => server.connections.length === 2 && agent?.state === 'connected', 'reconnected')
    await new Promise((r) => setTimeout(r, 300))
    assert.deepEqual(sent(server.connections[1]), [])
    assert.deepEqual(await audit.verify(), {ok: true, entries: 2})
    assert.match(await readFile(agentFiles(dir).outbox, 'utf8'), /^$/)
  })
})
