import {strict as assert} from 'node:assert'
import {type ChildProcess, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {connect, createServer, type Server, type Socket} from 'node:net'
import {join} from 'node:path'
import tls from 'node:tls'
import {NodeCredentials} from '../../src/server/peering/node-cert.js'
import {upgradeSocket, UpgradeRefusedError} from '../../src/shared/upgrade-client.js'
import {BIN, runTether, startTether, testEnv, waitForOutput} from '../helpers/cli.js'
import {transfer as sendThrough} from '../helpers/tunnel-streams.js'
import {eventually} from '../helpers/eventually.js'
import {adminApi} from '../agent/helpers/admin-api.js'
import {enrollAgent, type AgentUnderTest} from '../agent/helpers/agent-process.js'
import {expectExit, json, stopChild, SupportCenter} from '../agent/helpers/support-center.js'

const LISTENING = /tether server listening on https:\/\/127\.0\.0\.1:(\d+)/
const NODE_LEASE = {TETHER_AGENT_HEARTBEAT_INTERVAL_MS: '1000', TETHER_AGENT_HEARTBEAT_TIMEOUT_MS: '6000'}

async function target(onConnection: (socket: Socket) => void): Promise<{server: Server; port: number}> {
  const server = createServer({allowHalfOpen: true}, (s) => {
    s.on('error', () => s.destroy())
    onConnection(s)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {server, port: (server.address() as {port: number}).port}
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * The device's way in, as a load balancer in TCP mode would be (TLS passes through untouched),
 * but steered: every new connection goes to `target`, so a test decides which node the agent's
 * next connection (its control channel, or a tunnel's data leg) lands on.
 */
async function steeredBalancer(target: number): Promise<{server: Server; port: number; target: number}> {
  const state = {server: createServer(), port: 0, target}
  state.server.on('connection', (device) => {
    const node = connect(state.target, '127.0.0.1')
    for (const [a, b] of [[device, node], [node, device]]) {
      a.pipe(b)
      a.on('error', () => b.destroy())
      a.on('close', () => b.destroy())
    }
  })
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve))
  state.port = (state.server.address() as {port: number}).port
  return state
}

/**
 * Tunnels across server nodes: two real `tether server start` nodes on one PostgreSQL sharing
 * the data dir, a real agent whose control channel is on node 1, and the engineer's CLI and the
 * device's data leg landing on either node. The node that receives a leg forwards it to node 1
 * over a node certificate; the stream works whichever nodes the legs land on.
 */
describe('tunnels across server nodes (PostgreSQL, e2e)', function () {
  this.timeout(240_000)
  let sc: SupportCenter
  let node2: ChildProcess | undefined
  const ports: number[] = []
  let balancer: Awaited<ReturnType<typeof steeredBalancer>>
  let agent: AgentUnderTest
  let echo: {server: Server; port: number}
  let sink: {server: Server; port: number}
  let source: {server: Server; port: number}
  const PAYLOAD = randomBytes(20 * 1024 * 1024)
  const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
  let engineerEnv: (node: number) => Record<string, string | undefined>
  /** The same user with devices:read too (tunnels list), through node `node`. */
  let operatorEnv: (node: number) => Record<string, string | undefined>
  const SERIAL = 'SN-MN-1'
  let killedStream: string | undefined

  /** `tether tunnels connect` through node `node` (1 or 2): stdin in, stdout out. */
  const connectThrough = (node: number, port = echo.port): ChildProcess =>
    spawn(process.execPath, [BIN, 'tunnels', 'connect', SERIAL, '--port', String(port), '--reason', 'INC-MN'], {env: testEnv(engineerEnv(node)), stdio: ['pipe', 'pipe', 'pipe']})

  /**
   * One stream through the engineer's leg on node `node` to `port`: sends `input`, reads until
   * `until` says the answer is complete, then says EOF and waits for the command to end.
   */
  const transfer = (node: number, port: number, input: Buffer, until: (out: Buffer) => boolean) => sendThrough(connectThrough(node, port), input, until)

  before(async () => {
    ports.push(await freePort(), await freePort())
    // Node leases of 6 s: a killed node's streams are closed as node-lost by node 2 within seconds.
    sc = await SupportCenter.create({database: 'postgres', env: NODE_LEASE, serverArgs: ['--node-id', 'node-1', '--peer-address', `127.0.0.1:${ports[0]}`]})
    await sc.start(ports[0])
    node2 = startTether(['server', 'start', '--data-dir', join(sc.dir, 'data'), '--host', '127.0.0.1', '--port', String(ports[1]), '--log-level', 'warn', '--node-id', 'node-2', '--peer-address', `127.0.0.1:${ports[1]}`], {env: sc.env})
    await waitForOutput(node2, LISTENING, 30_000)
    await sc.loginAdmin()

    // A reset from the agent ends an echo connection; it is not an error of the test.
    echo = {server: createServer({allowHalfOpen: true}, (s) => s.on('error', () => s.destroy()).pipe(s)), port: 0}
    await new Promise<void>((resolve) => echo.server.listen(0, '127.0.0.1', resolve))
    echo.port = (echo.server.address() as {port: number}).port
    // Up: a sink that answers the SHA-256 of the first 20 MB it reads. Down: a source of 20 MB.
    sink = await target((s) => {
      const hash = createHash('sha256')
      let n = 0
      s.on('data', (d: Buffer) => {
        const take = d.subarray(0, PAYLOAD.length - n)
        hash.update(take)
        n += take.length
        if (n === PAYLOAD.length && take.length > 0) s.end(hash.digest('hex'))
      })
    })
    source = await target((s) => s.end(PAYLOAD))

    // The agent reaches the nodes through the steered balancer; its control channel lands on node 1.
    balancer = await steeredBalancer(ports[0])
    const direct = sc.url
    sc.url = `https://127.0.0.1:${balancer.port}`
    try {
      agent = await enrollAgent(sc, SERIAL, {enrollArgs: ['--allow-port', String(echo.port), '--allow-port', String(sink.port), '--allow-port', String(source.port)]})
    } finally {
      sc.url = direct
    }
    await agent.tune()
    agent.start()
    await eventually(async () => (await agent.status()).state === 'connected', 'agent connected')

    const token = json<{token: string}>(expectExit(await sc.admin(['tokens', 'create', '--name', 'engineer', '--permission', 'tunnels:open', '--json']), 0)).token
    engineerEnv = (node) => ({...sc.adminEnv(), TETHER_TOKEN: token, TETHER_SERVER: `https://127.0.0.1:${ports[node - 1]}`, TETHER_CA: sc.caFile})
    const operator = json<{token: string}>(expectExit(await sc.admin(['tokens', 'create', '--name', 'operator', '--permission', 'tunnels:open', '--permission', 'devices:read', '--json']), 0)).token
    operatorEnv = (node) => ({...engineerEnv(node), TETHER_TOKEN: operator})
  })

  after(async () => {
    await agent?.stop()
    for (const t of [echo, sink, source]) t?.server.close()
    balancer?.server.close()
    await stopChild(node2)
    await sc?.dispose()
  })

  for (const [engineerNode, dataNode] of [[2, 2], [2, 1], [1, 2]] as const) {
    it(`engineer's leg on node ${engineerNode}, device's data leg on node ${dataNode}, stream owned by node 1: 20 MB up and 20 MB down intact`, async () => {
      balancer.target = ports[dataNode - 1]
      const up = await transfer(engineerNode, sink.port, PAYLOAD, (out) => out.length >= 64)
      assert.equal(up.code, 0, up.stderr)
      assert.equal(up.out.toString(), sha256(PAYLOAD), 'the device side received other bytes')
      const down = await transfer(engineerNode, source.port, Buffer.alloc(0), (out) => out.length >= PAYLOAD.length)
      assert.equal(down.code, 0, down.stderr)
      assert.equal(sha256(down.out), sha256(PAYLOAD), `${down.out.length} bytes came down of ${PAYLOAD.length}`)
    })
  }

  it('each stream is audited once, by the owning node, in the one chain', async () => {
    const closes = await eventually(async () => {
      const events = (await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&limit=1000`)).json.events as Array<{action: string; details: Record<string, unknown>}>
      const found = events.filter((e) => e.action === 'tunnel.close')
      return found.length >= 6 ? found : undefined
    }, 'six closes audited')
    assert.equal(closes.length, 6)
    const moved = closes.map((c) => Math.max(c.details.bytesToDevice as number, c.details.bytesFromDevice as number))
    assert.deepEqual(moved, Array(6).fill(PAYLOAD.length), `why: ${closes.map((c) => c.details.why).join(', ')}`)
    const verify = await adminApi(sc, 'POST', '/audit/verify', {})
    assert.equal(verify.json.ok, true, JSON.stringify(verify.json))
  })

  type Listed = {tunnels: Array<{id: string; node: string; device: string; user: string; bytesToDevice: number}>}
  const listOn = async (node: number): Promise<Listed> => json<Listed>(expectExit(await runTether(['tunnels', 'list', '--json'], {env: operatorEnv(node)}), 0))
  const auditedCloses = async (id: string) =>
    ((await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&limit=1000`)).json.events as Array<{action: string; details: Record<string, unknown>}>).filter((e) => e.action === 'tunnel.close' && e.details.tunnelId === id)

  it('node 2 lists a stream node 1 carries (Node column, --json node) and closes it: the CLI ends, node 1 audits one close with closedBy', async () => {
    balancer.target = ports[0]
    const child = connectThrough(1)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d) => (stdout += d))
    child.stderr!.on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    child.stdin!.write('hello\n')
    await eventually(async () => stdout.includes('hello') || child.exitCode !== null, 'echo through the stream')
    assert.ok(stdout.includes('hello'), `stream not live: ${stderr}`)
    const [stream] = (await listOn(2)).tunnels
    assert.equal(stream?.node, 'node-1', 'listed on node 2 with the node that carries it')
    assert.equal(stream.device, SERIAL)
    const table = expectExit(await runTether(['tunnels', 'list'], {env: operatorEnv(2)}), 0).stdout
    assert.match(table, /NODE/)
    assert.match(table, new RegExp(`${stream.id}.*node-1`))
    const closed = json<{id: string; node: string}>(expectExit(await runTether(['tunnels', 'close', stream.id, '--json'], {env: operatorEnv(2)}), 0))
    assert.deepEqual([closed.id, closed.node], [stream.id, 'node-1'])
    // node 1's END frame says who closed it: the CLI names the reason and fails (exit 1).
    assert.equal(await exited, 1, stderr)
    assert.match(stderr, /the tunnel ended: the tunnel was closed by \S+ on the server \(closed-by-user\)/)
    const closes = await eventually(async () => {
      const found = await auditedCloses(stream.id)
      return found.length > 0 ? found : undefined
    }, 'close audited')
    assert.equal(closes.length, 1)
    assert.equal(closes[0].details.why, 'closed-by-user')
    assert.equal(closes[0].details.closedBy, 'admin')
    assert.deepEqual((await listOn(2)).tunnels, [])
  })

  const rawUpgrade = async (port: number, path: string, headers: Record<string, string>, client: tls.ConnectionOptions = {}) => {
    const socket = tls.connect({host: '127.0.0.1', port, ca: await readFile(sc.caFile, 'utf8'), servername: 'localhost', ...client})
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    return upgradeSocket(socket, {host: 'localhost', path, protocol: 'tether-tunnel', headers, timeoutMs: 10_000})
  }
  const refusedWith = (status: number, code: string) => (error: unknown) => error instanceof UpgradeRefusedError && error.status === status && error.code === code

  it('forwarding headers from a connection without a node certificate are refused (FORWARD_REFUSED)', async () => {
    const engineer = `/api/v1/devices/${SERIAL}/tunnel?port=${echo.port}`
    await assert.rejects(rawUpgrade(ports[0], engineer, {'x-tether-forwarded-by': 'node-2'}), refusedWith(403, 'FORWARD_REFUSED'))
    // A data leg claiming to be the device, without its certificate or a node's.
    await assert.rejects(rawUpgrade(ports[0], '/api/v1/agent/tunnels/abcdefghijkl', {'x-tether-device': SERIAL, 'x-tether-forwarded-by': 'node-2', 'x-tether-ticket': 'x'.repeat(32)}), refusedWith(403, 'FORWARD_REFUSED'))
  })

  it('a forwarded leg is never forwarded again: node 2 refuses one for a device it does not hold (DEVICE_MOVED)', async () => {
    // A genuine node certificate (from the server CA, as any node makes at start).
    const credentials = (await NodeCredentials.load(join(sc.dir, 'data', 'tls', 'ca.crt'), () => 'node-x'))!
    const {cert, key} = await credentials.material()
    const token = engineerEnv(2).TETHER_TOKEN!
    await assert.rejects(
      rawUpgrade(ports[1], `/api/v1/devices/${SERIAL}/tunnel?port=${echo.port}`, {'x-tether-forwarded-by': 'node-x', authorization: `Bearer ${token}`}, {cert, key}),
      refusedWith(503, 'DEVICE_MOVED'),
    )
  })

  it('node 1 (the stream\'s owner) killed -9 mid-stream: the engineer\'s CLI on node 2 says the tunnel ended and why', async () => {
    balancer.target = ports[1]
    const child = connectThrough(2)
    let stdout = 0
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.length))
    child.stderr!.on('data', (d) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    // Bytes keep flowing towards the device while the owner dies.
    const chunk = randomBytes(64 * 1024)
    const pump = setInterval(() => child.stdin!.writable && child.stdin!.write(chunk), 5)
    child.stdin!.on('error', () => undefined)
    try {
      await eventually(async () => stdout > 1024 * 1024, 'stream live')
      // Node 2 lists it with the bytes of node 1's last lease tick.
      const stream = await eventually(async () => (await listOn(2)).tunnels.find((t) => t.node === 'node-1' && t.bytesToDevice > 0), 'node 2 lists the stream with its bytes')
      await sc.kill9()
      const code = await exited
      assert.equal(code, 7, stderr)
      assert.match(stderr, /the tunnel ended: its connection was lost \(ECONNRESET\): the server node carrying it stopped, or the network failed/)
      killedStream = stream.id
    } finally {
      clearInterval(pump)
    }
  })

  it('node 2 notices node 1\'s lease ran out and audits the killed stream\'s close (node-lost) once, in the one chain', async () => {
    assert.ok(killedStream, 'the kill test ran')
    sc.url = `https://127.0.0.1:${ports[1]}`
    const closes = await eventually(async () => {
      const found = await auditedCloses(killedStream!)
      return found.length > 0 ? found : undefined
    }, 'node-lost close audited', 60_000)
    // Its row went with that close: nothing is left for a second one.
    assert.deepEqual((await listOn(2)).tunnels, [])
    assert.equal((await auditedCloses(killedStream!)).length, 1)
    assert.equal(closes[0].details.why, 'node-lost')
    assert.equal(closes[0].details.node, 'node-1')
    assert.ok((closes[0].details.bytesToDevice as number) > 0, 'bytes as of node 1\'s last tick')
    const verify = await adminApi(sc, 'POST', '/audit/verify', {})
    assert.equal(verify.json.ok, true, JSON.stringify(verify.json))
  })
})
