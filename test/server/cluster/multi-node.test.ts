import {strict as assert} from 'node:assert'
import type {ChildProcess} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {FastifyInstance} from 'fastify'
import type {JobMessage} from '../../../src/protocol/agent/jobs.js'
import type {NodeList} from '../../../src/protocol/api/nodes.js'
import {issueDeviceDirect, type DirectDevice} from '../../../src/server/enrollment/direct-issue.js'
import {loadCa} from '../../../src/server/pki/ca.js'
import {startServer, type StartedServer} from '../../../src/server/server.js'
import {eventually} from '../../helpers/eventually.js'
import {runTether, startTether, waitForOutput} from '../../helpers/cli.js'
import {auditEvents, call, seedUser, sessionFor} from '../helpers/app.js'
import {createTestDatabase, type TestDatabase} from '../helpers/database.js'
import {FakeAgent} from '../hub/fake-agent.js'

// Three nodes on one PostgreSQL as operated: two in this process (startServer, same data dir),
// one a real `tether server start` process that the lease test kills with SIGKILL. Short agent
// heartbeats make leases last 2 s (renewed every ~0.7 s).
const HEARTBEAT = {TETHER_AGENT_HEARTBEAT_INTERVAL_MS: '500', TETHER_AGENT_HEARTBEAT_TIMEOUT_MS: '2000'}
const LISTENING = /tether server listening on https:\/\/127\.0\.0\.1:(\d+)/

describe('several nodes on one PostgreSQL: presence, jobs, nodes', function () {
  this.timeout(90_000)
  let dataDir: string
  let database: TestDatabase
  let node1: StartedServer
  let node2: StartedServer
  let serverCaPem: string
  let token: string
  let issue: (serial: string) => Promise<DirectDevice>
  const agents: FakeAgent[] = []
  const children: ChildProcess[] = []

  const start = (nodeId: string) =>
    startServer({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      database: database.url,
      hostnames: ['localhost', '127.0.0.1'],
      logLevel: 'silent',
      shutdownTimeoutMs: 3000,
      env: HEARTBEAT,
      nodeId,
      peerAddress: `127.0.0.1:${nodeId === 'node-1' ? 7001 : 7002}`,
    })

  async function connect(url: string, serial: string): Promise<FakeAgent> {
    const device = await issue(serial)
    const agent = await FakeAgent.connect({url, certPem: device.certPem, keyPem: device.keyPem, serverCaPem})
    agents.push(agent)
    assert.equal((await agent.hello(serial)).type, 'welcome')
    return agent
  }

  async function onlineOn(app: FastifyInstance, serial: string): Promise<boolean> {
    const res = await call(app, 'GET', `/devices/${serial}`, {token})
    assert.equal(res.statusCode, 200, res.body)
    return res.json().online as boolean
  }

  async function listedOnline(app: FastifyInstance): Promise<string[]> {
    const res = await call(app, 'GET', '/devices', {token})
    return (res.json().devices as Array<{serial: string; online: boolean}>).filter((d) => d.online).map((d) => d.serial)
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tether-nodes-'))
    database = await createTestDatabase('postgres')
    node1 = await start('node-1')
    node2 = await start('node-2')
    serverCaPem = (await import('node:fs')).readFileSync(node1.config.tls.caFile, 'utf8')
    await seedUser(node1.app, {username: 'root', role: 'admin'})
    token = (await sessionFor(node1.app, 'root')).accessToken
    await node1.app.db.insertInto('customers').values({id: 'acme', name: 'Acme', created_at: new Date().toISOString()}).execute()
    const deviceCa = await loadCa(node1.config.deviceCa.certFile, node1.config.deviceCa.keyFile)
    issue = (serial) => issueDeviceDirect(node1.app.db, deviceCa, {serial, customer: 'acme'})
  })

  after(async () => {
    for (const agent of agents) agent.close()
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await node2?.stop()
    await node1?.stop()
    await database?.drop()
    await rm(dataDir, {recursive: true, force: true})
  })

  it('answers the same online state on every node, from presence, and offline on both after a disconnect', async () => {
    const agent = await connect(node2.url, 'SN-P1')
    assert.equal(node1.app.hub.isOnline('SN-P1'), false, 'the connection is on node 2 only')
    await eventually(async () => (await onlineOn(node1.app, 'SN-P1')) && (await onlineOn(node2.app, 'SN-P1')), 'SN-P1 online on both nodes')
    assert.deepEqual(await listedOnline(node1.app), await listedOnline(node2.app))
    assert.deepEqual(await node1.app.presence.ownerOf('SN-P1'), {nodeId: 'node-2', peerAddress: '127.0.0.1:7002'})
    agent.close()
    await eventually(async () => !(await onlineOn(node1.app, 'SN-P1')) && !(await onlineOn(node2.app, 'SN-P1')), 'SN-P1 offline on both nodes')
    assert.equal(await node1.app.presence.ownerOf('SN-P1'), null)
  })

  it('delivers a job requested on node 1 to a device connected to node 2, recorded as online', async () => {
    const agent = await connect(node2.url, 'SN-J1')
    await eventually(() => node1.app.presence.isOnline('SN-J1'), 'SN-J1 lease visible to node 1')
    const device = await node1.app.db.selectFrom('devices').selectAll().where('serial', '=', 'SN-J1').executeTakeFirstOrThrow()
    const job = await node1.app.jobs.create(device, {kind: 'diagnostic', params: {name: 'disk'}, requestedBy: 'root', ttlSeconds: 60})
    assert.equal(job.status, 'queued', 'node 1 cannot push it itself')
    // Woken by NOTIFY (the 5 s sweep is the fallback; either way it must arrive).
    const received = (await agent.next((m) => m.type === 'job', 10_000)) as JobMessage
    assert.equal(received.jobId, job.id)
    await eventually(async () => (await node1.app.db.selectFrom('jobs').select('status').where('id', '=', job.id).executeTakeFirstOrThrow()).status === 'sent', 'job marked sent')
    const requested = (await auditEvents(node1.app, 'job.requested')).find((e) => JSON.parse(e.details).jobId === job.id)
    assert.equal(JSON.parse(requested!.details).online, true)
  })

  it('cuts a device revoked on node 1 off node 2', async () => {
    const agent = await connect(node2.url, 'SN-R1')
    await eventually(() => node1.app.presence.isOnline('SN-R1'), 'SN-R1 lease visible to node 1')
    const res = await call(node1.app, 'POST', '/devices/SN-R1/revoke', {token})
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.json().disconnected, true)
    assert.equal(await agent.closed(10_000), 4003)
  })

  it('lists the live nodes on GET /nodes and `tether server nodes --json`', async () => {
    const res = await call(node2.app, 'GET', '/nodes', {token})
    assert.equal(res.statusCode, 200, res.body)
    const nodes = (res.json() as NodeList).nodes
    assert.deepEqual(
      nodes.map((n) => [n.id, n.peerAddress, n.self]),
      [
        ['node-1', '127.0.0.1:7001', false],
        ['node-2', '127.0.0.1:7002', true],
      ],
    )
    const viewer = await seedUser(node1.app, {username: 'viewer1', role: 'viewer', mfa: false})
    assert.equal((await call(node1.app, 'GET', '/nodes', {token: (await sessionFor(node1.app, viewer.username)).accessToken})).statusCode, 403)
    const cli = await runTether(['server', 'nodes', '--json'], {env: {TETHER_TOKEN: token, TETHER_SERVER: node1.url, TETHER_CA: node1.config.tls.caFile, HOME: dataDir, XDG_CONFIG_HOME: dataDir}})
    assert.equal(cli.code, 0, cli.stderr)
    const listed = JSON.parse(cli.stdout) as NodeList
    assert.deepEqual(listed.nodes.map((n) => [n.id, n.self]), [['node-1', true], ['node-2', false]])
  })

  it('a killed node loses its devices when their leases run out, with no clean-up', async () => {
    const node3 = startTether(['server', 'start', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn', '--node-id', 'node-3'], {
      env: {...HEARTBEAT, TETHER_DATABASE_URL: database.url},
    })
    children.push(node3)
    const port = Number((await waitForOutput(node3, LISTENING)).match(LISTENING)![1])
    await connect(`https://127.0.0.1:${port}`, 'SN-K1')
    await eventually(async () => (await onlineOn(node1.app, 'SN-K1')) && (await onlineOn(node2.app, 'SN-K1')), 'SN-K1 online on nodes 1 and 2')
    await eventually(async () => (await call(node1.app, 'GET', '/nodes', {token})).json().nodes.some((n: {id: string; agents: number}) => n.id === 'node-3' && n.agents === 1), 'node 3 listed with its agent')
    node3.kill('SIGKILL')
    await eventually(async () => !(await onlineOn(node1.app, 'SN-K1')) && !(await onlineOn(node2.app, 'SN-K1')), 'SN-K1 offline once its lease ran out')
    // Nobody deleted the lease: it simply expired.
    const row = await node1.app.db.selectFrom('device_presence').selectAll().where('serial', '=', 'SN-K1').executeTakeFirst()
    assert.equal(row?.node_id, 'node-3')
    const nodes = (await call(node1.app, 'GET', '/nodes', {token})).json() as NodeList
    assert.deepEqual(nodes.nodes.map((n) => n.id), ['node-1', 'node-2'])
  })
})
