import {strict as assert} from 'node:assert'
import {readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {adminApi} from './helpers/admin-api.js'
import {AgentUnderTest, socketsOf} from './helpers/agent-process.js'
import {DB_KINDS} from '../server/helpers/database.js'
import {eventually, expectExit, json, SupportCenter} from './helpers/support-center.js'

/**
 * The agent against a real support center, both as real processes on loopback:
 * enroll, connect, online, no-access refusals in both audits, reconnect after kill -9 of the
 * server, a server with a foreign CA, revocation.
 */
for (const kind of DB_KINDS) describe(`tether agent against a real server (${kind}, e2e)`, function () {
  this.timeout(180_000)
  let sc: SupportCenter
  let agent: AgentUnderTest
  const SERIAL = 'SN-E2E-1'

  before(async () => {
    sc = await SupportCenter.create({database: kind})
    await sc.start()
    await sc.loginAdmin()
    agent = new AgentUnderTest(join(sc.dir, 'agent'))
  })

  after(async () => {
    await agent?.stop()
    await sc?.dispose()
  })

  it('refuses to enroll against a server whose CA does not match --fingerprint, and stores nothing', async () => {
    const token = await sc.enrollToken('SN-WRONG-CA')
    const r = await agent.run(['agent', 'enroll', '--server', sc.url, '--token', token, '--serial', 'SN-WRONG-CA', '--fingerprint', 'AA'.repeat(32), '--json'])
    expectExit(r, 7)
    assert.match(json<{error: {message: string}}>(r).error.message, /certificate not trusted/)
    await assert.rejects(stat(join(agent.dataDir, 'agent.json')))
  })

  it('refuses a serial that does not match the token (exit 2)', async () => {
    const token = await sc.enrollToken('SN-MISMATCH')
    const r = await agent.run(['agent', 'enroll', '--server', sc.url, '--token', token, '--serial', 'SN-OTHER', '--ca', sc.caFile, '--json'])
    expectExit(r, 2)
    assert.match(json<{error: {message: string}}>(r).error.message, /serial|SN-OTHER/i)
  })

  it('enrolls with --fingerprint and the token alone (key 0600 made here), and refuses the same token a second time', async () => {
    const token = await sc.enrollToken(SERIAL)
    const r = expectExit(await agent.run(['agent', 'enroll', '--server', sc.url, '--token', token, '--model', 'X200', '--fingerprint', sc.caFingerprint, '--allow-port', '22', '--json']), 0)
    assert.equal(json<{serial: string}>(r).serial, SERIAL)
    assert.equal((await stat(join(agent.dataDir, 'device.key'))).mode & 0o777, 0o600)
    assert.match(await readFile(join(agent.dataDir, 'device.crt'), 'utf8'), /BEGIN CERTIFICATE/)
    await agent.tune()

    const again = await new AgentUnderTest(join(sc.dir, 'agent2')).run(['agent', 'enroll', '--server', sc.url, '--token', token, '--serial', SERIAL, '--ca', sc.caFile, '--json'])
    expectExit(again, 3)
    assert.match(json<{error: {message: string}}>(again).error.message, /enrollment refused/)
  })

  it('connects, reports its inventory, shows online, and never listens on any port', async () => {
    const child = agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')
    const device = await eventually(async () => {
      const d = await sc.device(SERIAL)
      return d.online === true ? d : undefined
    }, 'device online')
    const inventory = device.inventory as {serial: string; model: string; accessMode: {mode: string}; addresses: string[]}
    assert.equal(inventory.serial, SERIAL)
    assert.equal(inventory.model, 'X200')
    assert.equal(inventory.accessMode.mode, 'allow')
    const sockets = await socketsOf(child.pid!)
    assert.equal(sockets.listening, 0, 'the agent must not listen on any port')
    assert.ok(sockets.established >= 1, 'the agent holds its outbound connection')
    expectExit(await agent.run(['agent', 'status']), 0)
  })

  it('allow: a stream to a port the device does not allow is refused by the device, named as such, and audited locally', async () => {
    const r = expectExit(await sc.admin(['tunnels', 'connect', SERIAL, '--port', '23'], ''), 4)
    assert.match(r.stderr, /refused by the device: port 23 is not in this device's allowed tunnel ports \(22\) \[device\]/)
    assert.equal(r.stdout, '', 'nothing but the stream on stdout')
    const audit = json<{entries: Array<{action: string; details: {code?: string}}>}>(await agent.run(['agent', 'audit', '--json']))
    assert.ok(audit.entries.some((e) => e.action === 'device.session.refused' && e.details.code === 'PORT_NOT_ALLOWED'))
  })

  it('no-access: the agent refuses a server-side request by itself; both audits show it, exactly once', async () => {
    const set = json<{mode: string}>(expectExit(await agent.run(['agent', 'access', 'set', 'no-access', '--json']), 0))
    assert.equal(set.mode, 'no-access')
    // The running agent reports the change (inventory) …
    await eventually(async () => ((await sc.device(SERIAL)).inventory as {accessMode: {mode: string}}).accessMode.mode === 'no-access', 'inventory shows no-access')
    const r = expectExit(await sc.admin(['tunnels', 'connect', SERIAL, '--port', '22'], ''), 4)
    assert.match(r.stderr, /refused by the device: the device is in no-access mode \[device\]/)

    const local = json<{entries: Array<{action: string; outcome: string; eventId?: string}>; verify: {ok: boolean}}>(expectExit(await agent.run(['agent', 'audit', '--verify', '--json']), 0))
    assert.equal(local.verify.ok, true)
    const refusal = local.entries.find((e) => e.action === 'device.session.refused')!
    const change = local.entries.find((e) => e.action === 'device.access-mode.changed')!
    assert.equal(refusal.outcome, 'denied')
    // … and the server records the device's own events (delivered from the outbox, acked once).
    await eventually(async () => (await agent.status()).outboxPending === 0, 'outbox drained')
    const events = (await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&limit=1000`)).json.events as Array<{action: string; outcome: string; details: Record<string, unknown>}>
    const text = JSON.stringify(events)
    assert.ok(events.some((e) => e.action === 'tunnel.refused' && e.outcome === 'denied' && e.details.layer === 'device'), text)
    assert.equal(text.split(refusal.eventId!).length - 1, 1, `refusal event ${refusal.eventId} recorded exactly once: ${text}`)
    assert.equal(text.split(change.eventId!).length - 1, 1, `mode change ${change.eventId} recorded exactly once`)
  })

  it('a temporary allow expires on its own', async () => {
    // Long enough that the next CLI process still sees it on a loaded machine (5 s was not: CI with load 15).
    expectExit(await agent.run(['agent', 'access', 'set', 'allow', '--until', '15s']), 0)
    const show = json<{mode: string; until: string}>(await agent.run(['agent', 'access', 'show', '--json']))
    assert.equal(show.mode, 'allow')
    assert.ok(show.until)
    await eventually(async () => json<{mode: string}>(await agent.run(['agent', 'access', 'show', '--json'])).mode === 'no-access', 'allow expired', 45_000)
    const local = json<{entries: Array<{action: string; details: {reason?: string}}>}>(await agent.run(['agent', 'audit', '--json']))
    await eventually(async () => json<{entries: Array<{action: string; details: {reason?: string}}>}>(await agent.run(['agent', 'audit', '--json'])).entries.some((e) => e.details.reason === 'expired'), 'expiry audited', 10_000)
    assert.ok(local.entries.length > 0)
    expectExit(await agent.run(['agent', 'access', 'set', 'allow']), 0)
  })

  it('events queued while the agent is stopped are delivered after it starts again, exactly once', async () => {
    await agent.stop()
    const set = expectExit(await agent.run(['agent', 'access', 'set', 'no-access']), 0)
    assert.match(set.stdout, /no-access/)
    const queued = (await readFile(join(agent.dataDir, 'outbox.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as {eventId: string})
    assert.ok(queued.length >= 1)
    // Stopped agent: status says so and exits 1.
    const stopped = await agent.run(['agent', 'status', '--json'])
    expectExit(stopped, 1)
    assert.equal(json<{state: string}>(stopped).state, 'stopped')
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected again')
    await eventually(async () => (await agent.status()).outboxPending === 0, 'outbox drained after restart')
    // A second restart must not deliver anything again; SIGTERM stops the agent cleanly (exit 0).
    await agent.stop()
    assert.equal(agent.child!.exitCode, 0)
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected a third time')
    const text = JSON.stringify((await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&limit=1000`)).json.events)
    for (const {eventId} of queued) assert.equal(text.split(eventId).length - 1, 1, `event ${eventId} recorded exactly once`)
    expectExit(await agent.run(['agent', 'access', 'set', 'allow']), 0)
  })

  it('reconnects by itself after the server is killed with SIGKILL and started again on the same port', async () => {
    const port = sc.port
    await sc.kill9()
    await eventually(async () => (await agent.status()).state !== 'connected', 'agent notices the server is gone')
    await sc.start(port)
    await eventually(async () => (await agent.status()).state === 'connected', 'agent reconnected', 30_000)
    await eventually(async () => (await sc.device(SERIAL)).online === true, 'device online again')
  })

  it('revoke: the agent is cut off at once and stays out (state revoked, clear last error)', async () => {
    expectExit(await sc.admin(['devices', 'revoke', SERIAL, '--json']), 0)
    const status = await eventually(async () => {
      const s = await agent.status()
      return s.state === 'revoked' ? s : undefined
    }, 'agent revoked', 15_000)
    assert.match(String(status.lastError), /revoked/)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    assert.equal((await agent.status()).state, 'revoked')
    assert.equal((await sc.device(SERIAL)).online, false)
    const r = await agent.run(['agent', 'status'])
    expectExit(r, 1)
    assert.match(r.stdout, /revoked/)
    await agent.stop()
  })
})

describe('tether agent refuses a server with a certificate from another CA (e2e)', function () {
  this.timeout(120_000)
  let a: SupportCenter
  let b: SupportCenter
  let agent: AgentUnderTest

  before(async () => {
    a = await SupportCenter.create()
    b = await SupportCenter.create()
    await a.start()
    await b.start()
    await a.loginAdmin()
  })
  after(async () => {
    await agent?.stop()
    await a?.dispose()
    await b?.dispose()
  })

  it('shows "server certificate not trusted" and never connects', async () => {
    agent = new AgentUnderTest(join(a.dir, 'agent'))
    const token = await a.enrollToken('SN-CA-1')
    expectExit(await agent.run(['agent', 'enroll', '--server', a.url, '--token', token, '--serial', 'SN-CA-1', '--ca', a.caFile]), 0)
    // Point the enrolled agent at server B (same hostname, another CA): it must refuse it.
    await agent.tune({server: b.url})
    agent.start()
    const status = await eventually(async () => {
      const s = await agent.status()
      return s.lastError ? s : undefined
    }, 'a connection error')
    assert.notEqual(status.state, 'connected')
    assert.match(String(status.lastError), /server certificate not trusted/)
  })
})
