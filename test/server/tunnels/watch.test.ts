import {strict as assert} from 'node:assert'
import pino from 'pino'
import {LiveTunnels, type CloseReason, type LiveTunnel} from '../../../src/server/tunnels/live.js'
import {TunnelWatch} from '../../../src/server/tunnels/watch.js'
import {buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

for (const kind of DB_KINDS) describe(`tunnel watch: live streams end when permission ends (${kind})`, () => {
  let t: TestApp
  let live: LiveTunnels
  let watch: TunnelWatch
  const closed = new Map<string, CloseReason>()
  const now = Date.now()

  const tunnel = (id: string, o: Partial<LiveTunnel> & Pick<LiveTunnel, 'userId'>): LiveTunnel => ({
    id, serial: 'SN-W', customerId: 'acme', siteId: null, username: 'u', tokenId: null, epoch: 0, target: '127.0.0.1:22', reason: null,
    since: now, counters: {toDevice: 0, fromDevice: 0, lastActivity: now},
    close: (reason) => {
      closed.set(id, reason)
      live.remove(id)
    },
    ...o,
  })

  beforeEach(async () => {
    t = await buildTestApp(kind)
    live = new LiveTunnels()
    watch = new TunnelWatch(t.app.db, live, 60_000, pino({level: 'silent'}))
    closed.clear()
    await t.app.db.insertInto('customers').values({id: 'acme', name: 'Acme', created_at: new Date().toISOString()}).execute()
    await t.app.db.insertInto('devices').values({serial: 'SN-W', model: 'X', customer_id: 'acme', site_id: null, labels: '{}', created_at: new Date().toISOString(), enrolled_at: null, revoked_at: null, cert_fingerprint: null, last_seen_at: null, inventory: null, events_refused: 0} as never).execute()
  })
  afterEach(() => t.close())

  it('keeps streams whose user, credential and device are all still valid', async () => {
    const alice = await seedUser(t.app, {username: 'alice', role: 'service-engineer'})
    live.add(tunnel('ok', {userId: alice.id}))
    await watch.check(now)
    assert.deepEqual([...closed], [])
  })

  it('ends a stream when its user is disabled, their sessions are revoked (epoch), or the device is revoked', async () => {
    const alice = await seedUser(t.app, {username: 'alice', role: 'service-engineer'})
    const bob = await seedUser(t.app, {username: 'bob', role: 'service-engineer'})
    const carol = await seedUser(t.app, {username: 'carol', role: 'service-engineer'})
    live.add(tunnel('alice', {userId: alice.id}))
    live.add(tunnel('bob', {userId: bob.id}))
    live.add(tunnel('carol', {userId: carol.id, serial: 'SN-W'}))
    await t.app.db.updateTable('users').set({disabled_at: new Date().toISOString()}).where('id', '=', alice.id).execute()
    await t.app.db.updateTable('users').set({token_epoch: 5}).where('id', '=', bob.id).execute()
    await watch.check(now)
    assert.deepEqual(Object.fromEntries(closed), {alice: 'user-disabled', bob: 'credentials-revoked'})
    await t.app.db.updateTable('devices').set({revoked_at: new Date().toISOString()}).where('serial', '=', 'SN-W').execute()
    await watch.check(now)
    assert.equal(closed.get('carol'), 'device-revoked')
  })

  it('ends a stream opened with an API token once the token is revoked, and an idle stream after the idle timeout', async () => {
    const admin = await seedUser(t.app, {username: 'boss', role: 'admin'})
    const session = await sessionFor(t.app, 'boss')
    const created = await call(t.app, 'POST', '/tokens', {token: session.accessToken, body: {name: 'tun', permissions: ['tunnels:open']}})
    const tokenId = created.json().info.id as string
    live.add(tunnel('token', {userId: admin.id, tokenId, epoch: null}))
    live.add(tunnel('idle', {userId: admin.id, counters: {toDevice: 1, fromDevice: 1, lastActivity: now - 61_000}}))
    await watch.check(now)
    assert.deepEqual(Object.fromEntries(closed), {idle: 'idle'})
    await call(t.app, 'DELETE', `/tokens/${tokenId}`, {token: session.accessToken})
    await watch.check(now)
    assert.equal(closed.get('token'), 'credentials-revoked')
  })
})
