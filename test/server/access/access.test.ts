import {strict as assert} from 'node:assert'
import {randomUUID} from 'node:crypto'
import type {EventMessage} from '../../../src/protocol/agent/messages.js'
import {AccessService} from '../../../src/server/access/service.js'
import {ACCESS_TRANSITIONS} from '../../../src/server/access/transitions.js'
import {recordDeviceEvent} from '../../../src/server/hub/events.js'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

/** The hub as the access service sees it: online serials, and an agent that stores what it is sent (or fails). */
class FakeHub {
  online = new Set<string>()
  fail = false
  sent: Array<{serial: string; params: Record<string, unknown>}> = []
  isOnline(serial: string): boolean {
    return this.online.has(serial)
  }
  async request(serial: string, body: {kind: string; params: Record<string, unknown>}) {
    if (this.fail) throw new Error('DEVICE_TIMEOUT')
    this.sent.push({serial, params: body.params})
    return {type: 'response' as const, id: 'r1', ok: true, result: {state: 'pending'}}
  }
}

const decided = (requestId: string, decision: string, extra: Record<string, unknown> = {}): EventMessage => ({
  type: 'event',
  eventId: randomUUID(),
  time: new Date().toISOString(),
  action: 'device.access.decided',
  outcome: 'success',
  details: {actor: 'local:nurse', requestId, decision, user: 'eng', ...extra},
})

for (const kind of DB_KINDS) {
  describe(`access requests: service and routes (${kind})`, () => {
    let t: TestApp
    let root: string
    let eng: string

    before(async () => {
      t = await buildTestApp(kind)
      await seedUser(t.app, {username: 'root', role: 'admin'})
      root = (await sessionFor(t.app, 'root')).accessToken
      for (const c of ['acme', 'other']) assert.equal((await call(t.app, 'POST', '/customers', {token: root, body: {id: c, name: c}})).statusCode, 201)
      for (const [serial, customer] of [['SN-1', 'acme'], ['SN-2', 'acme'], ['SN-9', 'other']]) {
        assert.equal((await call(t.app, 'POST', '/devices', {token: root, body: {serial, model: 'A', customer}})).statusCode, 201)
      }
      await seedUser(t.app, {username: 'eng', role: 'service-engineer', scope: {all: false, entries: [{customer: 'acme'}]}})
      eng = (await sessionFor(t.app, 'eng')).accessToken
    })
    after(async () => t?.close())

    const ask = (serial: string, body: unknown, token = eng) => call(t.app, 'POST', `/devices/${serial}/access-requests`, {token, body})

    it('a request is stored pending and audited access.requested, with who, why, which ports and for how long', async () => {
      const res = await ask('SN-1', {reason: 'INC-4711', durationSeconds: 7200, ports: [5900]})
      assert.equal(res.statusCode, 201, res.body)
      const view = res.json()
      assert.deepEqual([view.state, view.requestedBy, view.reason, view.ports, view.durationSeconds, view.deliveredAt], ['pending', 'eng', 'INC-4711', [5900], 7200, null])
      const audit = (await auditEvents(t.app, 'access.requested')).find((e) => JSON.parse(e.details).requestId === view.id)!
      assert.deepEqual([audit.actor, audit.device_serial], ['eng', 'SN-1'])
      assert.deepEqual(JSON.parse(audit.details), {requestId: view.id, reason: 'INC-4711', ports: [5900], durationSeconds: 7200, expiresAt: view.expiresAt, online: false})
    })

    it('a device out of the engineer\'s scope is "not found", exactly like one that does not exist; nothing is stored', async () => {
      const before = await t.app.db.selectFrom('access_requests').select(({fn}) => fn.countAll().as('n')).executeTakeFirstOrThrow()
      const outside = await ask('SN-9', {reason: 'x', durationSeconds: 60})
      const missing = await ask('SN-NOPE', {reason: 'x', durationSeconds: 60})
      assert.deepEqual([outside.statusCode, missing.statusCode], [404, 404])
      assert.equal(outside.json().error.message, 'no device "SN-9"')
      assert.equal(missing.json().error.message, 'no device "SN-NOPE"')
      const after = await t.app.db.selectFrom('access_requests').select(({fn}) => fn.countAll().as('n')).executeTakeFirstOrThrow()
      assert.equal(Number(after.n), Number(before.n))
      // Nor can the engineer see a request for it (made by the admin).
      const theirs = (await ask('SN-9', {reason: 'x', durationSeconds: 60}, root)).json()
      assert.equal((await call(t.app, 'GET', `/access-requests/${theirs.id}`, {token: eng})).statusCode, 404)
      assert.ok(!(await call(t.app, 'GET', '/access-requests', {token: eng})).json().requests.some((r: {serial: string}) => r.serial === 'SN-9'))
    })

    it('an API token without tunnels:open is a 403; a viewer session too', async () => {
      const minted = await call(t.app, 'POST', '/tokens', {token: root, body: {name: 'read-only', permissions: ['devices:read']}})
      const res = await ask('SN-1', {reason: 'x', durationSeconds: 60}, minted.json().token)
      assert.equal(res.statusCode, 403)
      assert.match(res.json().error.message, /tunnels:open/)
      await seedUser(t.app, {username: 'vic', role: 'viewer', mfa: false})
      assert.equal((await ask('SN-1', {reason: 'x', durationSeconds: 60}, (await sessionFor(t.app, 'vic')).accessToken)).statusCode, 403)
    })

    it('refuses bad input with a 400 naming the field', async () => {
      const cases: Array<[unknown, string, RegExp]> = [
        [{reason: 'x', durationSeconds: 60, ports: [70000]}, 'body.ports.0', /a TCP port is 1-65535/],
        [{reason: 'x', durationSeconds: 60, ports: [0]}, 'body.ports.0', /a TCP port is 1-65535/],
        [{reason: 'x', durationSeconds: 60, ports: [22, 22]}, 'body.ports', /a port is named twice/],
        [{reason: 'x', durationSeconds: 25 * 3600}, 'body.durationSeconds', /at most 24h/],
        [{reason: '   ', durationSeconds: 60}, 'body.reason', /say why/],
        [{durationSeconds: 60}, 'body.reason', /./],
        [{reason: 'x', durationSeconds: 60, ttlSeconds: 8 * 86400}, 'body.ttlSeconds', /./],
        [{reason: 'x', durationSeconds: 60, extra: 1}, 'body', /extra/],
      ]
      for (const [body, field, message] of cases) {
        const res = await ask('SN-1', body)
        assert.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`)
        assert.equal(res.json().error.field, field, res.body)
        assert.match(res.json().error.message, message)
      }
    })

    it('a revoked device cannot be asked (409)', async () => {
      assert.equal((await call(t.app, 'POST', '/devices/SN-2/revoke', {token: root, body: {}})).statusCode, 200)
      const res = await ask('SN-2', {reason: 'x', durationSeconds: 60})
      assert.equal(res.statusCode, 409)
      assert.equal(res.json().error.message, 'device "SN-2" is revoked: it can no longer be reached')
    })

    it('delivers to a device once it is online (the sweep), and again after a failed attempt; never twice once stored', async () => {
      const hub = new FakeHub()
      const service = new AccessService(t.app.db, t.app.audit, hub, t.app.log)
      const device = await t.app.db.selectFrom('devices').selectAll().where('serial', '=', 'SN-1').executeTakeFirstOrThrow()
      const created = await service.create(device, {reason: 'INC-1', durationSeconds: 60, requestedBy: 'eng'})
      assert.equal(created.delivered_at, null)
      hub.online.add('SN-1')
      hub.fail = true
      await service.sweep()
      assert.equal((await t.app.db.selectFrom('access_requests').select('delivered_at').where('id', '=', created.id).executeTakeFirstOrThrow()).delivered_at, null)
      hub.fail = false
      await service.sweep()
      await service.sweep()
      const mine = hub.sent.filter((s) => s.params.requestId === created.id)
      assert.equal(mine.length, 1)
      assert.deepEqual(mine[0].params, {requestId: created.id, user: 'eng', reason: 'INC-1', ports: [], durationSeconds: 60, requestedAt: created.created_at, expiresAt: created.expires_at})
      assert.notEqual((await t.app.db.selectFrom('access_requests').select('delivered_at').where('id', '=', created.id).executeTakeFirstOrThrow()).delivered_at, null)
    })

    it('requests waiting for offline devices do not hold back one for a device that just connected', async () => {
      const hub = new FakeHub()
      const service = new AccessService(t.app.db, t.app.audit, hub, t.app.log)
      const stale = Array.from({length: 600}, (_, i) => ({
        id: randomUUID(),
        serial: 'SN-9',
        customer_id: 'other',
        requested_by: 'root',
        reason: `old-${i}`,
        ports: '[]',
        duration_seconds: 60,
        state: 'pending' as const,
        created_at: new Date(Date.now() - 600_000 + i).toISOString(),
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        delivered_at: null,
        decided_at: null,
        decided_by: null,
        until: null,
      }))
      for (let i = 0; i < stale.length; i += 200) await t.app.db.insertInto('access_requests').values(stale.slice(i, i + 200)).execute()
      const device = await t.app.db.selectFrom('devices').selectAll().where('serial', '=', 'SN-1').executeTakeFirstOrThrow()
      const fresh = await service.create(device, {reason: 'now', durationSeconds: 60, requestedBy: 'eng'})
      hub.online.add('SN-1')
      await service.sweep()
      assert.deepEqual(hub.sent.map((sent) => sent.params.requestId), [fresh.id])
    })

    it("the device's decision moves the request once, in the transaction that records the event; another device's word changes nothing", async () => {
      const id = (await ask('SN-1', {reason: 'INC-2', durationSeconds: 3600, ports: [22]})).json().id as string
      const until = new Date(Date.now() + 3_600_000).toISOString()
      // SN-9 claims to approve SN-1's request: recorded as SN-9's event, no effect.
      assert.equal((await recordDeviceEvent(t.app.db, t.app.audit, {serial: 'SN-9', customerId: 'other'}, decided(id, 'approved', {ports: [22], until}))).kind, 'recorded')
      assert.equal((await call(t.app, 'GET', `/access-requests/${id}`, {token: eng})).json().state, 'pending')

      const approval = decided(id, 'approved', {ports: [22], until})
      assert.equal((await recordDeviceEvent(t.app.db, t.app.audit, {serial: 'SN-1', customerId: 'acme'}, approval)).kind, 'recorded')
      // Redelivered by the outbox: a duplicate, no second effect.
      assert.equal((await recordDeviceEvent(t.app.db, t.app.audit, {serial: 'SN-1', customerId: 'acme'}, approval)).kind, 'duplicate')
      const view = (await call(t.app, 'GET', `/access-requests/${id}`, {token: eng})).json()
      assert.deepEqual([view.state, view.until, view.decidedBy, view.ports], ['approved', until, 'local:nurse', [22]])
      const approvedEvents = (await auditEvents(t.app, 'access.approved')).filter((e) => JSON.parse(e.details).requestId === id)
      assert.equal(approvedEvents.length, 1)
      assert.deepEqual([approvedEvents[0].actor_type, approvedEvents[0].actor], ['device', 'SN-1'])
      assert.equal(JSON.parse(approvedEvents[0].details).decidedBy, 'local:nurse')

      // A late "denied" for an approved request is not a transition the table allows.
      await recordDeviceEvent(t.app.db, t.app.audit, {serial: 'SN-1', customerId: 'acme'}, decided(id, 'denied'))
      assert.equal((await call(t.app, 'GET', `/access-requests/${id}`, {token: eng})).json().state, 'approved')
      assert.equal((await auditEvents(t.app, 'access.denied')).filter((e) => JSON.parse(e.details).requestId === id).length, 0)
      await recordDeviceEvent(t.app.db, t.app.audit, {serial: 'SN-1', customerId: 'acme'}, decided(id, 'revoked', {until: new Date().toISOString()}))
      assert.equal((await call(t.app, 'GET', `/access-requests/${id}`, {token: eng})).json().state, 'revoked')
    })

    it('expires undecided requests at their deadline and grants at their end, audited once each', async () => {
      const service = new AccessService(t.app.db, t.app.audit, new FakeHub(), t.app.log)
      const pending = (await ask('SN-1', {reason: 'INC-3', durationSeconds: 60, ttlSeconds: 1})).json().id as string
      const granted = (await ask('SN-1', {reason: 'INC-4', durationSeconds: 60})).json().id as string
      await recordDeviceEvent(t.app.db, t.app.audit, {serial: 'SN-1', customerId: 'acme'}, decided(granted, 'approved', {ports: [22], until: new Date(Date.now() + 500).toISOString()}))
      await new Promise((resolve) => setTimeout(resolve, 1100))
      await service.expireDue()
      await service.expireDue()
      const states = await t.app.db.selectFrom('access_requests').select(['id', 'state']).where('id', 'in', [pending, granted]).execute()
      assert.deepEqual(Object.fromEntries(states.map((s) => [s.id, s.state])), {[pending]: 'expired', [granted]: 'expired'})
      const expired = (await auditEvents(t.app, 'access.expired')).map((e) => JSON.parse(e.details))
      assert.deepEqual(expired.filter((d) => d.requestId === pending).map((d) => d.why), ['not decided in time'])
      assert.deepEqual(expired.filter((d) => d.requestId === granted).map((d) => d.why), ['the grant ran out'])
    })

    it('the transition table: final states go nowhere, and every state but pending is reachable', () => {
      for (const s of ['denied', 'expired', 'revoked'] as const) assert.deepEqual(ACCESS_TRANSITIONS[s], [])
      const reachable = new Set(Object.values(ACCESS_TRANSITIONS).flat())
      assert.deepEqual([...reachable].sort(), ['approved', 'denied', 'expired', 'revoked'])
    })
  })
}
