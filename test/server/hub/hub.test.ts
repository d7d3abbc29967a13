import {strict as assert} from 'node:assert'
import {createCa, loadCa, signCsr} from '../../../src/server/pki/ca.js'
import {createDeviceCsr} from '../../../src/server/enrollment/direct-issue.js'
import {CloseCodes, MAX_FRAME_BYTES} from '../../../src/protocol/agent/messages.js'
import {auditEvents, call, seedUser, sessionFor} from '../helpers/app.js'
import {eventually} from '../../helpers/eventually.js'
import {DB_KINDS} from '../helpers/database.js'
import {FakeAgent} from './fake-agent.js'
import {dialTunnel} from './tunnel-dial.js'
import {type HubFixture, startHubFixture} from './server-fixture.js'

async function refusal(promise: Promise<unknown>): Promise<{status: number; body: string}> {
  try {
    await promise
  } catch (error) {
    const e = error as {status?: number; body?: string; message: string}
    if (e.status === undefined) throw error
    return {status: e.status, body: e.body ?? ''}
  }
  throw new Error('the connection was accepted')
}

for (const kind of DB_KINDS) {
  describe(`device hub over mTLS WebSockets (${kind})`, function () {
    this.timeout(30_000)
    let fx: HubFixture
    let admin: string
    const agents: FakeAgent[] = []

    const connect = async (serial: string, extra: Partial<Parameters<typeof FakeAgent.connect>[0]> = {}): Promise<FakeAgent> => {
      const device = await fx.issue(serial)
      const agent = await FakeAgent.connect({url: fx.server.url, certPem: device.certPem, keyPem: device.keyPem, serverCaPem: fx.serverCaPem, ...extra})
      agents.push(agent)
      return agent
    }

    before(async () => {
      fx = await startHubFixture(kind)
      await seedUser(fx.server.app, {username: 'boss', role: 'admin'})
      admin = (await sessionFor(fx.server.app, 'boss')).accessToken
    })
    afterEach(() => {
      for (const a of agents.splice(0)) a.close()
    })
    after(async () => {
      if (fx) await fx.close()
    })

    it('accepts an enrolled device, negotiates the version and shows it online', async () => {
      const agent = await connect('SN-OK')
      const welcome = await agent.hello('SN-OK', [1, 7])
      assert.equal(welcome.type, 'welcome')
      assert.equal(welcome.type === 'welcome' && welcome.protocolVersion, 1)
      const res = await call(fx.server.app, 'GET', '/devices/SN-OK', {token: admin})
      assert.equal(res.statusCode, 200)
      const view = res.json()
      assert.equal(view.online, true)
      assert.equal(view.inventory.serial, 'SN-OK')
      agent.close()
      await agent.closed()
      await waitFor(async () => !(await call(fx.server.app, 'GET', '/devices/SN-OK', {token: admin})).json().online)
      // Presence reached the database too (batched): last seen and the reported inventory.
      await waitFor(async () => {
        const row = await fx.server.app.db.selectFrom('devices').selectAll().where('serial', '=', 'SN-OK').executeTakeFirstOrThrow()
        return row.last_seen_at !== null && row.inventory !== null && JSON.parse(row.inventory).agentVersion === '0.0.0-test'
      })
      const offline = (await call(fx.server.app, 'GET', '/devices/SN-OK', {token: admin})).json()
      assert.equal(offline.inventory.serial, 'SN-OK')
      assert.ok(offline.lastSeenAt)
    })

    it('refuses a client without a certificate (401)', async () => {
      const r = await refusal(FakeAgent.connect({url: fx.server.url, certPem: '', keyPem: '', serverCaPem: fx.serverCaPem}).then((a) => agents.push(a)))
      assert.equal(r.status, 401)
      assert.match(r.body, /CERT_REQUIRED/)
    })

    it('refuses a certificate from another CA (401)', async () => {
      const otherCa = await createCa('Rogue CA')
      const dir = await import('node:fs/promises')
      const os = await import('node:os')
      const path = await import('node:path')
      const tmp = await dir.mkdtemp(path.join(os.tmpdir(), 'rogue-'))
      await dir.writeFile(path.join(tmp, 'ca.crt'), otherCa.certPem)
      await dir.writeFile(path.join(tmp, 'ca.key'), otherCa.keyPem)
      const rogue = await loadCa(path.join(tmp, 'ca.crt'), path.join(tmp, 'ca.key'))
      await dir.rm(tmp, {recursive: true})
      await fx.issue('SN-ROGUE')
      const {csrPem, keyPem} = await createDeviceCsr('SN-ROGUE')
      const cert = await signCsr(rogue, csrPem, {serial: 'SN-ROGUE'})
      // Even with the registry pointing at this certificate, the CA decides first.
      await fx.server.app.db.updateTable('devices').set({cert_fingerprint: cert.fingerprint}).where('serial', '=', 'SN-ROGUE').execute()
      const r = await refusal(FakeAgent.connect({url: fx.server.url, certPem: cert.certPem, keyPem, serverCaPem: fx.serverCaPem}).then((a) => agents.push(a)))
      assert.equal(r.status, 401)
      assert.match(r.body, /CERT_UNTRUSTED/)
    })

    it('refuses an expired device certificate (401 CERT_EXPIRED)', async () => {
      const device = await fx.issue('SN-OLD', {validityDays: -0.5})
      const r = await refusal(FakeAgent.connect({url: fx.server.url, certPem: device.certPem, keyPem: device.keyPem, serverCaPem: fx.serverCaPem}).then((a) => agents.push(a)))
      assert.equal(r.status, 401)
      assert.match(r.body, /CERT_EXPIRED/)
    })

    it('refuses a certificate replaced by a re-enrollment (403)', async () => {
      const first = await fx.issue('SN-TWICE')
      await fx.issue('SN-TWICE')
      const r = await refusal(FakeAgent.connect({url: fx.server.url, certPem: first.certPem, keyPem: first.keyPem, serverCaPem: fx.serverCaPem}).then((a) => agents.push(a)))
      assert.equal(r.status, 403)
      assert.match(r.body, /CERT_REPLACED/)
    })

    it('revoke cuts the live connection at once (bye + 4003) and refuses it afterwards (403)', async () => {
      const device = await fx.issue('SN-REV')
      const agent = await FakeAgent.connect({url: fx.server.url, certPem: device.certPem, keyPem: device.keyPem, serverCaPem: fx.serverCaPem})
      agents.push(agent)
      await agent.hello('SN-REV')
      const res = await call(fx.server.app, 'POST', '/devices/SN-REV/revoke', {token: admin, body: {}})
      assert.equal(res.statusCode, 200, res.body)
      assert.equal(res.json().disconnected, true)
      const bye = await agent.next((m) => m.type === 'bye')
      assert.equal(bye.type === 'bye' && bye.reason, 'revoked')
      assert.equal(await agent.closed(), CloseCodes.revoked)
      const r = await refusal(FakeAgent.connect({url: fx.server.url, certPem: device.certPem, keyPem: device.keyPem, serverCaPem: fx.serverCaPem}).then((a) => agents.push(a)))
      assert.equal(r.status, 403)
      assert.match(r.body, /REVOKED/)
      const audited = await auditEvents(fx.server.app, 'device.revoked')
      assert.equal(audited.length, 1)
      assert.equal(audited[0].device_serial, 'SN-REV')
    })

    it('answers malformed JSON and unknown types with an error and stays up; another agent is unaffected', async () => {
      const a = await connect('SN-A')
      const b = await connect('SN-B')
      await a.hello('SN-A')
      await b.hello('SN-B')
      a.send('{not json')
      const e1 = await a.next((m) => m.type === 'error')
      assert.equal(e1.type === 'error' && e1.code, 'MALFORMED')
      a.send({type: 'teleport', id: 'x1'})
      const e2 = await a.next((m) => m.type === 'error' && m.refId === 'x1')
      assert.equal(e2.type === 'error' && e2.code, 'UNKNOWN_TYPE')
      a.send({type: 'event', eventId: 'not-a-uuid', time: 'now', action: 'x', outcome: 'success'})
      await a.next((m) => m.type === 'error' && m.code === 'INVALID_MESSAGE')
      const ping = await fx.server.app.hub.request('SN-A', {kind: 'ping'})
      assert.equal(ping.ok, true)
      // An oversized frame: ws closes that connection with 1009; the other one keeps working.
      a.send(JSON.stringify({type: 'inventory', pad: 'x'.repeat(MAX_FRAME_BYTES + 10)}))
      assert.equal(await a.closed(), 1009)
      const pong = await fx.server.app.hub.request('SN-B', {kind: 'ping'})
      assert.deepEqual(pong.result, {pong: true})
    })

    it('closes 1002 when no protocol version is common, and 4000 when the first message is not hello', async () => {
      const a = await connect('SN-V99')
      const err = await a.hello('SN-V99', [99])
      assert.equal(err.type === 'error' && err.code, 'UNSUPPORTED_VERSION')
      assert.equal(await a.closed(), CloseCodes.protocolError)
      const b = await connect('SN-NOHELLO')
      b.send({type: 'inventory', inventory: {}})
      assert.equal(await b.closed(), CloseCodes.helloRequired)
    })

    it('records a device event once even when it is delivered twice, acking both', async () => {
      const a = await connect('SN-EV')
      await a.hello('SN-EV')
      const details = {actor: 'local:root', from: 'allow', to: 'no-access', until: null}
      const event = {type: 'event', eventId: '6f1c3c52-8a0e-4c71-9d6e-0b2d2f1d9a11', time: new Date().toISOString(), action: 'device.access-mode.changed', outcome: 'success', details}
      a.send(event)
      a.send(event)
      await waitFor(async () => a.received.filter((m) => m.type === 'event-ack').length === 2)
      const rows = await auditEvents(fx.server.app, 'device.access-mode.changed')
      assert.equal(rows.length, 1)
      assert.equal(rows[0].actor_type, 'device')
      assert.equal(rows[0].actor, 'SN-EV')
      assert.equal(JSON.parse(rows[0].details).to, 'no-access')
    })

    it('tunnels: the device refusing is 403 naming the device layer, offline is 503, unknown is 404, a bad port is 400; all audited', async () => {
      const refuser = await connect('SN-NOACC', {
        onRequest: () => ({ok: false, error: {code: 'REFUSED_BY_DEVICE', message: 'the device is in no-access mode'}}),
      })
      await refuser.hello('SN-NOACC')
      const refused = await dialTunnel(fx.server.url, fx.serverCaPem, 'SN-NOACC', 'port=22&reason=INC-1', admin)
      assert.deepEqual(refused, {status: 403, code: 'REFUSED_BY_DEVICE', layer: 'device', message: 'refused by the device: the device is in no-access mode'})
      const request = refuser.received.find((m) => m.type === 'request')
      assert.ok(request?.type === 'request' && request.kind === 'tunnel.open')
      const params = request.params as {target: unknown; user: string; reason: string; ticket: string}
      assert.deepEqual([params.target, params.user, params.reason], [{host: '127.0.0.1', port: 22}, 'boss', 'INC-1'])
      assert.ok(params.ticket.length >= 32, 'a ticket worth guessing nothing')

      await fx.issue('SN-OFF')
      assert.deepEqual(await dialTunnel(fx.server.url, fx.serverCaPem, 'SN-OFF', 'port=22', admin), {status: 503, code: 'DEVICE_OFFLINE', layer: 'network', message: 'device "SN-OFF" is offline (its agent is not connected)'})
      assert.equal((await dialTunnel(fx.server.url, fx.serverCaPem, 'NOPE', 'port=22', admin)).status, 404)
      const bad = await dialTunnel(fx.server.url, fx.serverCaPem, 'SN-OFF', 'port=70000', admin)
      assert.equal(bad.status, 400)
      assert.match(bad.message, /^port: /)
      assert.equal((await dialTunnel(fx.server.url, fx.serverCaPem, 'SN-OFF', 'port=22', 'not-a-token')).status, 401)

      const audited = await auditEvents(fx.server.app, 'tunnel.refused')
      assert.deepEqual(
        audited.map((e) => [e.device_serial, e.outcome, JSON.parse(e.details).layer]),
        [
          ['SN-NOACC', 'denied', 'device'],
          ['SN-OFF', 'failure', 'network'],
          [null, 'denied', 'server'],
          [null, 'denied', 'server'],
          [null, 'denied', 'server'],
        ],
      )
    })

    it('broadcasts a ping to every connected agent and counts the answers; a mute one times out', async () => {
      const a = await connect('SN-BA')
      const b = await connect('SN-BB')
      const mute = await connect('SN-BM', {onRequest: () => null})
      await Promise.all([a.hello('SN-BA'), b.hello('SN-BB'), mute.hello('SN-BM')])
      const result = await fx.server.app.hub.broadcastPing(500)
      assert.equal(result.sent, 3)
      assert.equal(result.answered, 2)
      assert.equal(result.failed, 1)
      const pings = [a, b].map((x) => x.received.find((m) => m.type === 'request'))
      assert.deepEqual(pings.map((m) => m?.type === 'request' && m.kind), ['ping', 'ping'])
    })

    it('a device that does not answer within the request timeout gives 504 DEVICE_TIMEOUT', async () => {
      const mute = await connect('SN-MUTE', {onRequest: () => null})
      await mute.hello('SN-MUTE')
      await assert.rejects(fx.server.app.hub.request('SN-MUTE', {kind: 'ping'}, 200), /did not answer within 200 ms/)
    })
  })
}

describe('device hub heartbeats and shutdown (sqlite)', function () {
  this.timeout(30_000)
  let fx: HubFixture | undefined
  afterEach(async () => {
    if (fx) await fx.close()
    fx = undefined
  })

  it('terminates a client that stops answering pings within the heartbeat timeout', async () => {
    fx = await startHubFixture('sqlite', {TETHER_AGENT_HEARTBEAT_INTERVAL_MS: '200', TETHER_AGENT_HEARTBEAT_TIMEOUT_MS: '800'})
    const device = await fx.issue('SN-SILENT')
    const live = await fx.issue('SN-LIVE')
    const silent = await FakeAgent.connect({url: fx.server.url, certPem: device.certPem, keyPem: device.keyPem, serverCaPem: fx.serverCaPem, autoPong: false})
    const alive = await FakeAgent.connect({url: fx.server.url, certPem: live.certPem, keyPem: live.keyPem, serverCaPem: fx.serverCaPem})
    const welcome = await silent.hello('SN-SILENT')
    assert.equal(welcome.type === 'welcome' && welcome.heartbeatTimeoutMs, 800)
    await alive.hello('SN-LIVE')
    const started = Date.now()
    const code = await silent.closed(10_000)
    const took = Date.now() - started
    assert.equal(code, 1006, 'terminated, not closed')
    assert.ok(took < 800 + 1000 + 500, `closed after ${took} ms`)
    assert.equal(fx.server.app.hub.isOnline('SN-LIVE'), true)
    alive.close()
  })

  it('says bye {reason: shutdown} and closes 1001 when the server stops', async () => {
    fx = await startHubFixture('sqlite')
    const device = await fx.issue('SN-DOWN')
    const agent = await FakeAgent.connect({url: fx.server.url, certPem: device.certPem, keyPem: device.keyPem, serverCaPem: fx.serverCaPem})
    await agent.hello('SN-DOWN')
    const closing = fx.close()
    fx = undefined
    assert.equal(await agent.closed(), CloseCodes.goingAway)
    await closing
    const bye = agent.received.find((m) => m.type === 'bye')
    assert.equal(bye?.type === 'bye' && bye.reason, 'shutdown')
  })
})

/** The hub answers within milliseconds: poll often, give up after 5 s. */
const waitFor = (check: () => Promise<boolean>): Promise<boolean> => eventually(check, 'the hub to get there', 5000, 50)
