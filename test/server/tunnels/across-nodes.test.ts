import {strict as assert} from 'node:assert'
import pino from 'pino'
import type {Kysely} from 'kysely'
import type {Database} from '../../../src/server/db/schema.js'
import {SharedTunnelDirectory} from '../../../src/server/tunnels/directory.js'
import type {CloseReason, LiveTunnel} from '../../../src/server/tunnels/live.js'
import {LostStreams} from '../../../src/server/tunnels/node-lost.js'
import {eventually} from '../../helpers/eventually.js'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {createTestDatabase, DB_KINDS, type TestDatabase} from '../helpers/database.js'

const silent = pino({level: 'silent'})
const iso = (ms: number) => new Date(ms).toISOString()

/** A stream as the engineer's leg records it; its close (here) is the audited one: row removed with tunnel.close. */
function fakeStream(t: TestApp, directory: SharedTunnelDirectory, id: string, userId: string, closed: Map<string, [CloseReason, string | undefined]>): LiveTunnel {
  const now = Date.now()
  const tunnel: LiveTunnel = {
    id, serial: 'SN-X', customerId: 'acme', siteId: null, userId, username: 'root', tokenId: null, epoch: null, target: '127.0.0.1:22', reason: 'INC-1',
    since: now, counters: {toDevice: 0, fromDevice: 0, lastActivity: now},
    close: (reason, by) => {
      closed.set(id, [reason, by])
      t.app.tunnels.remove(id)
      void directory.recordClose(id, {actorType: 'user', actor: 'root', action: 'tunnel.close', outcome: 'success', details: {tunnelId: id, why: reason, closedBy: by}})
    },
  }
  return tunnel
}

async function openStream(t: TestApp, directory: SharedTunnelDirectory, tunnel: LiveTunnel): Promise<void> {
  await directory.recordOpen(tunnel, '127.0.0.9', {actorType: 'user', actor: 'root', action: 'tunnel.open', outcome: 'success', details: {tunnelId: tunnel.id}})
  t.app.tunnels.add(tunnel)
}

/**
 * The fake streams' device, so that it exists: else the node's tunnel watch (every 400 ms) ends a
 * stream added to app.tunnels as device-revoked before the test closes it (seen in CI once a step
 * took longer than that).
 */
async function seedStreamDevice(db: Kysely<Database>): Promise<void> {
  await db.insertInto('customers').values({id: 'acme', name: 'Acme', created_at: iso(Date.now())}).onConflict((oc) => oc.column('id').doNothing()).execute()
  await db.insertInto('devices').values({serial: 'SN-X', model: 'X', customer_id: 'acme', site_id: null, labels: '{}', created_at: iso(Date.now())}).execute()
}

/** A row of another (fake) node: `leaseMs` from now (negative: dead). */
async function otherNodeStream(db: Kysely<Database>, node: string, id: string, leaseMs: number, customer = 'acme'): Promise<void> {
  const now = Date.now()
  await db
    .insertInto('nodes')
    .values({id: node, instance: `${node}-i`, peer_address: null, started_at: iso(now - 60_000), heartbeat_at: iso(now), lease_until: iso(now + leaseMs), agents: 0, load_average: 0, rss_bytes: 0})
    .onConflict((oc) => oc.column('id').doUpdateSet({lease_until: iso(now + leaseMs)}))
    .execute()
  await db
    .insertInto('live_tunnels')
    .values({id, node_id: node, instance: `${node}-i`, serial: 'SN-X', customer_id: customer, site_id: null, user_id: 'u-x', username: 'eve', source_ip: '10.0.0.1', target: '127.0.0.1:22', reason: null, since: iso(now - 5000), bytes_to_device: 7, bytes_from_device: 9, close_requested_by: null})
    .execute()
}

// The table's statements on both engines (the plugin uses it with PostgreSQL; SQLite is one node, in memory).
for (const kind of DB_KINDS) describe(`live tunnels in the database (${kind})`, () => {
  let t: TestApp
  afterEach(() => t?.close())

  it('refreshes this node\'s counters in one statement and reports rows that are gone and close requests', async () => {
    t = await buildTestApp(kind)
    const root = await seedUser(t.app, {username: 'root', role: 'admin'})
    await seedStreamDevice(t.app.db)
    const directory = new SharedTunnelDirectory(t.app.db, t.app.audit, t.app.nodeId, t.app.nodeInstance)
    const closed = new Map<string, [CloseReason, string | undefined]>()
    const [a, b, c] = ['t-a', 't-b', 't-c'].map((id) => fakeStream(t, directory, id, root.id, closed))
    for (const s of [a, b, c]) await openStream(t, directory, s)
    a.counters.toDevice = 5_000_000_000 // past 2^32: bigint on both engines
    b.counters.fromDevice = 42
    await t.app.db.deleteFrom('live_tunnels').where('id', '=', 't-c').execute()
    await directory.requestClose('t-b', 'alice')
    const result = await directory.refresh([a, b, c])
    assert.deepEqual([...result.recorded].sort(), ['t-a', 't-b'])
    assert.deepEqual([...result.closeRequests], [['t-b', 'alice']])
    const rows = await t.app.db.selectFrom('live_tunnels').select(['id', 'bytes_to_device', 'bytes_from_device']).orderBy('id').execute()
    assert.deepEqual(rows.map((r) => [r.id, Number(r.bytes_to_device), Number(r.bytes_from_device)]), [['t-a', 5_000_000_000, 0], ['t-b', 0, 42]])
  })
})

describe('live tunnels on one node (SQLite): from memory, nothing written beside the audit', () => {
  let t: TestApp
  afterEach(() => t?.close())

  it('lists a stream with this node\'s id and closes it locally for the user', async () => {
    t = await buildTestApp('sqlite', {config: (c) => void (c.cluster.nodeId = 'solo')})
    const root = await seedUser(t.app, {username: 'root', role: 'admin'})
    const token = (await sessionFor(t.app, 'root')).accessToken
    const closed = new Map<string, [CloseReason, string | undefined]>()
    const now = Date.now()
    t.app.tunnels.add({
      id: 's-1', serial: 'SN-X', customerId: 'acme', siteId: null, userId: root.id, username: 'root', tokenId: null, epoch: null, target: '127.0.0.1:22', reason: null,
      since: now, counters: {toDevice: 3, fromDevice: 4, lastActivity: now},
      close: (reason, by) => {
        closed.set('s-1', [reason, by])
        t.app.tunnels.remove('s-1')
      },
    })
    const listed = await call(t.app, 'GET', '/tunnels', {token})
    assert.equal(listed.statusCode, 200, listed.body)
    assert.deepEqual(listed.json().tunnels.map((v: {id: string; node: string; bytesFromDevice: number}) => [v.id, v.node, v.bytesFromDevice]), [['s-1', 'solo', 4]])
    const res = await call(t.app, 'DELETE', '/tunnels/s-1', {token})
    assert.equal(res.statusCode, 200, res.body)
    assert.deepEqual(closed.get('s-1'), ['closed-by-user', 'root'])
    assert.equal((await t.app.db.selectFrom('live_tunnels').select('id').execute()).length, 0)
    assert.equal((await call(t.app, 'DELETE', '/tunnels/s-1', {token})).statusCode, 404)
  })
})

describe('live tunnels: a restarted node (PostgreSQL)', () => {
  let t: TestApp
  afterEach(() => t?.close())

  it('closes, at start, the streams a crashed process of this node left open (node-lost), once', async () => {
    t = await buildTestApp('postgres', {
      config: (c) => void (c.cluster.nodeId = 'node-a'),
      beforeStart: async (db) => {
        await otherNodeStream(db, 'node-a', 'crashed-1', 60_000)
      },
    })
    // The new process claimed node-a with its own instance: the row of the old one is lost.
    await eventually(async () => (await auditEvents(t.app, 'tunnel.close')).length === 1, 'close audited')
    const [close] = await auditEvents(t.app, 'tunnel.close')
    const details = JSON.parse(close.details) as Record<string, unknown>
    assert.equal(details.tunnelId, 'crashed-1')
    assert.equal(details.why, 'node-lost')
    assert.equal(details.node, 'node-a')
    assert.equal(details.bytesToDevice, 7)
    assert.equal(close.actor, 'eve')
    assert.equal(close.source_ip, '10.0.0.1')
    assert.equal(await new LostStreams(new SharedTunnelDirectory(t.app.db, t.app.audit, t.app.nodeId, t.app.nodeInstance), silent).sweep(), 0)
    assert.equal((await auditEvents(t.app, 'tunnel.close')).length, 1)
  })
})

describe('live tunnels across two nodes on one PostgreSQL', function () {
  this.timeout(60_000)
  let database: TestDatabase
  let node1: TestApp
  let node2: TestApp
  let token: string
  let rootId: string

  before(async () => {
    database = await createTestDatabase('postgres')
    node1 = await buildTestApp('postgres', {database, config: (c) => void (c.cluster.nodeId = 'node-1')})
    node2 = await buildTestApp('postgres', {database, config: (c) => void (c.cluster.nodeId = 'node-2')})
    rootId = (await seedUser(node1.app, {username: 'root', role: 'admin'})).id
    // Each test app has its own JWT secret: the calls all go to node 2, with its sessions.
    token = (await sessionFor(node2.app, 'root')).accessToken
    await node1.app.db.insertInto('customers').values([{id: 'acme', name: 'Acme', created_at: iso(Date.now())}, {id: 'other', name: 'Other', created_at: iso(Date.now())}]).execute()
    await seedStreamDevice(node1.app.db)
  })

  after(async () => {
    await node2?.close()
    await node1?.close()
    await database?.drop()
  })

  it('node 2 lists node 1\'s stream (with its node), and closes it: node 1 closes it for the user, audited once', async () => {
    const directory = new SharedTunnelDirectory(node1.app.db, node1.app.audit, node1.app.nodeId, node1.app.nodeInstance)
    const closed = new Map<string, [CloseReason, string | undefined]>()
    const stream = fakeStream(node1, directory, 'x-1', rootId, closed)
    await openStream(node1, directory, stream)
    const listed = await call(node2.app, 'GET', '/tunnels', {token})
    assert.equal(listed.statusCode, 200, listed.body)
    const view = (listed.json().tunnels as Array<Record<string, unknown>>).find((v) => v.id === 'x-1')
    assert.equal(view?.node, 'node-1')
    assert.equal(view?.user, 'root')
    const res = await call(node2.app, 'DELETE', '/tunnels/x-1', {token})
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.json().node, 'node-1')
    assert.deepEqual(closed.get('x-1'), ['closed-by-user', 'root'])
    const closes = (await auditEvents(node1.app, 'tunnel.close')).filter((e) => JSON.parse(e.details).tunnelId === 'x-1')
    assert.equal(closes.length, 1)
    assert.equal((await call(node2.app, 'DELETE', '/tunnels/x-1', {token})).statusCode, 404)
  })

  it('a stream on a live node that does not answer: a typed error after the bound, not a hang', async () => {
    await otherNodeStream(node1.app.db, 'node-mute', 'mute-1', 60_000)
    try {
      const res = await call(node2.app, 'DELETE', '/tunnels/mute-1', {token})
      assert.equal(res.statusCode, 504, res.body)
      assert.equal(res.json().error.code, 'TUNNEL_CLOSE_UNCONFIRMED')
      assert.match(res.json().error.message, /node "node-mute" did not confirm/)
      const row = await node1.app.db.selectFrom('live_tunnels').select('close_requested_by').where('id', '=', 'mute-1').executeTakeFirstOrThrow()
      assert.equal(row.close_requested_by, 'root')
    } finally {
      await node1.app.db.deleteFrom('live_tunnels').where('id', '=', 'mute-1').execute()
    }
  })

  it('is scope-filtered: another customer\'s stream is neither listed nor closable (404)', async () => {
    await otherNodeStream(node1.app.db, 'node-far', 'far-1', 60_000, 'other')
    await seedUser(node1.app, {username: 'scoped', role: 'service-engineer', scope: {all: false, entries: [{customer: 'acme'}]}})
    const scoped = (await sessionFor(node2.app, 'scoped')).accessToken
    try {
      const listed = await call(node2.app, 'GET', '/tunnels', {token: scoped})
      assert.equal(listed.statusCode, 200, listed.body)
      assert.deepEqual(listed.json().tunnels, [])
      assert.ok((await call(node2.app, 'GET', '/tunnels', {token})).json().tunnels.some((v: {id: string}) => v.id === 'far-1'))
      assert.equal((await call(node2.app, 'DELETE', '/tunnels/far-1', {token: scoped})).statusCode, 404)
    } finally {
      await node1.app.db.deleteFrom('live_tunnels').where('id', '=', 'far-1').execute()
    }
  })

  it('a dead node\'s streams: not listed, and closed as node-lost exactly once while both survivors sweep at the same time', async () => {
    const ids = Array.from({length: 20}, (_, i) => `dead-${i}`)
    for (const id of ids) await otherNodeStream(node1.app.db, 'node-dead', id, -1000)
    const listed = (await call(node2.app, 'GET', '/tunnels', {token})).json().tunnels as Array<{id: string}>
    assert.ok(!listed.some((v) => v.id.startsWith('dead-')), 'a dead node\'s streams are not live')
    const sweeper = (t: TestApp) => new LostStreams(new SharedTunnelDirectory(t.app.db, t.app.audit, t.app.nodeId, t.app.nodeInstance), silent)
    const [a, b] = await Promise.all([sweeper(node1).sweep(), sweeper(node2).sweep()])
    // The nodes' own ticks may take some too; together every stream is closed once.
    await eventually(async () => (await node1.app.db.selectFrom('live_tunnels').select('id').where('node_id', '=', 'node-dead').execute()).length === 0, 'rows gone')
    const closes = (await auditEvents(node1.app, 'tunnel.close')).map((e) => JSON.parse(e.details) as {tunnelId: string; why: string}).filter((d) => d.tunnelId.startsWith('dead-'))
    assert.deepEqual(closes.map((d) => d.tunnelId).sort(), [...ids].sort())
    assert.ok(closes.every((d) => d.why === 'node-lost'))
    assert.ok(a + b <= ids.length)
  })
})
