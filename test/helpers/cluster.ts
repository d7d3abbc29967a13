import type {ChildProcess} from 'node:child_process'
import {readFile} from 'node:fs/promises'
import {connect, createServer} from 'node:net'
import {join} from 'node:path'
import tls from 'node:tls'
import {Agent, request} from 'undici'
import {openDatabase} from '../../src/server/db/connect.js'
import {expectExit, json, stopChild, SupportCenter} from '../agent/helpers/support-center.js'
import {enrollAgent, type AgentUnderTest} from '../agent/helpers/agent-process.js'
import {startTether, waitForOutput} from './cli.js'
import {eventually} from './eventually.js'
import {Haproxy, haproxyConfigFromDocs} from './haproxy.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely-typed API answers
type Loose = any

const LISTENING = /tether server listening on https:\/\/127\.0\.0\.1:(\d+)/
/** The name the documented haproxy config checks the nodes' certificate for (check-sni, verifyhost). */
export const DOCS_HOSTNAME = 'support.example.org'

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface ClusterOptions {
  nodes: number
  /** Extra `tether server start` arguments for every node. */
  serverArgs?: string[]
  /** Extra environment for every node (e.g. short heartbeats: TETHER_AGENT_HEARTBEAT_*). */
  env?: Record<string, string>
}

/**
 * Several `tether server start` nodes as docs/operations.md runs them: one PostgreSQL, one data
 * dir (the copy every node needs), blobs in PostgreSQL, each node its own --node-id and
 * --peer-address, and a real haproxy in front with the documented configuration. `sc` is the
 * support center as clients see it: its url is the balancer's, its admin logged in through it.
 * Nodes are numbered from 1, as their ids (node-1 …).
 */
export class Cluster {
  readonly nodes: Array<ChildProcess | undefined> = []
  /** Each node's stdout and stderr (JSON request logs at info). */
  readonly logs: string[] = []
  haproxy!: Haproxy
  lbPort = 0
  private token = ''
  private readonly dispatchers = new Map<number, Agent>()

  private constructor(
    readonly sc: SupportCenter,
    readonly ports: number[],
    private readonly serverArgs: string[],
  ) {}

  static async start(options: ClusterOptions): Promise<Cluster> {
    const sc = await SupportCenter.create({
      database: 'postgres',
      env: {TETHER_BLOB_STORAGE: 'postgres', ...options.env},
      initArgs: ['--hostname', DOCS_HOSTNAME, '--hostname', 'localhost', '--hostname', '127.0.0.1'],
    })
    const ports: number[] = []
    for (let i = 0; i < options.nodes; i++) ports.push(await freePort())
    const cluster = new Cluster(sc, ports, options.serverArgs ?? [])
    try {
      for (let i = 1; i <= options.nodes; i++) await cluster.startNode(i)
      cluster.lbPort = await freePort()
      cluster.haproxy = await Haproxy.start(sc.dir, await haproxyConfigFromDocs({port: cluster.lbPort, nodes: ports, caFile: sc.caFile}))
      await eventually(async () => Object.values(await cluster.haproxy.stats()).filter((s) => s.status === 'UP').length === options.nodes, `haproxy sees ${options.nodes} nodes up`, 30_000, 500)
      sc.url = cluster.url
      sc.port = cluster.lbPort
      await sc.loginAdmin()
      cluster.token = json<{token: string}>(expectExit(await sc.admin(['tokens', 'create', '--name', 'cluster-harness', '--json']), 0)).token
    } catch (error) {
      await cluster.dispose()
      throw error
    }
    return cluster
  }

  get url(): string {
    return `https://127.0.0.1:${this.lbPort}`
  }

  nodeUrl(node: number): string {
    return `https://127.0.0.1:${this.ports[node - 1]}`
  }

  async startNode(node: number): Promise<void> {
    const port = this.ports[node - 1]
    const args = ['server', 'start', '--data-dir', join(this.sc.dir, 'data'), '--host', '127.0.0.1', '--port', String(port), '--log-level', 'info', '--node-id', `node-${node}`, '--peer-address', `127.0.0.1:${port}`, ...this.serverArgs]
    const child = startTether(args, {env: this.sc.env})
    this.nodes[node - 1] = child
    this.logs[node - 1] = ''
    child.stdout!.on('data', (d) => (this.logs[node - 1] += d))
    child.stderr!.on('data', (d) => (this.logs[node - 1] += d))
    await waitForOutput(child, LISTENING, 60_000)
  }

  async kill9(node: number): Promise<void> {
    await stopChild(this.nodes[node - 1], 'SIGKILL')
  }

  /** The CLI environment of an engineer whose requests go to `node` (or the balancer), with the harness's API token. */
  cliEnv(node?: number): Record<string, string | undefined> {
    return {...this.sc.adminEnv(), TETHER_TOKEN: this.token, TETHER_SERVER: node ? this.nodeUrl(node) : this.url, TETHER_CA: this.sc.caFile}
  }

  /** One API call to `node` directly (or to the balancer), as the admin (all permissions). */
  async api(node: number | 'lb', method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{status: number; json: Loose}> {
    const key = node === 'lb' ? 0 : node
    if (!this.dispatchers.has(key)) this.dispatchers.set(key, new Agent({connect: {ca: await readFile(this.sc.caFile, 'utf8'), servername: 'localhost'}}))
    const res = await request(`${node === 'lb' ? this.url : this.nodeUrl(node)}/api/v1${path}`, {
      method,
      dispatcher: this.dispatchers.get(key),
      headers: {authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : {'content-type': 'application/json'}), ...headers},
      ...(body === undefined ? {} : {body: JSON.stringify(body)}),
    })
    const text = await res.body.text()
    return {status: res.statusCode, json: text ? JSON.parse(text) : null}
  }

  /** An HTTPS client whose connections leave from `localAddress` (127.0.0.0/8): a source address of its own. */
  async dispatcherFrom(localAddress: string): Promise<Agent> {
    const ca = await readFile(this.sc.caFile, 'utf8')
    // undici's connect options do not carry localAddress: the connection is made here.
    return new Agent({
      connect: (o, done) => {
        const socket = tls.connect({socket: connect({host: o.hostname, port: Number(o.port), localAddress}), servername: 'localhost', ca, ALPNProtocols: ['http/1.1']})
        socket.once('secureConnect', () => done(null, socket)).once('error', (error) => done(error, null))
      },
    })
  }

  /** Which node holds each online device, read from the shared database (device_presence, live leases). */
  async presence(): Promise<Map<string, string>> {
    const opened = await openDatabase(this.sc.databaseUrl)
    try {
      const rows = await opened.db.selectFrom('device_presence').select(['serial', 'node_id']).where('lease_until', '>', new Date().toISOString()).execute()
      return new Map(rows.map((r) => [r.serial, r.node_id]))
    } finally {
      await opened.close()
    }
  }

  /**
   * Enrolls and starts agents one after the other through the balancer, each waited for until a
   * node holds it, so `balance leastconn` spreads them over the nodes as it would a fleet.
   */
  async startAgents(serials: string[], tune: (serial: string) => Record<string, unknown>, startArgs: (serial: string) => string[] = () => [], enrollArgs: string[] = []): Promise<AgentUnderTest[]> {
    const agents: AgentUnderTest[] = []
    for (const serial of serials) {
      const agent = await enrollAgent(this.sc, serial, {dirName: `agent-${serial}`, enrollArgs})
      await agent.tune(tune(serial))
      agent.start(startArgs(serial))
      agents.push(agent)
      await eventually(async () => (await this.presence()).has(serial), `${serial} connected`, 60_000)
    }
    return agents
  }

  async dispose(): Promise<void> {
    for (const d of this.dispatchers.values()) await d.close()
    await this.haproxy?.stop()
    for (const node of this.nodes) await stopChild(node)
    await this.sc.dispose()
  }
}
