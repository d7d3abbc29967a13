/**
 * bench/tunnel-throughput: `tether tunnels open` next to `ssh -R` (default cipher) and a direct
 * connection, in one run on this machine. Real processes (the built binary), loopback only,
 * every loop bounded in count and time. No assertions: it prints figures and ratios.
 *
 *   npm run build && node --import tsx bench/tunnel-throughput.ts [--seconds 5] [--rounds 10000]
 *     [--setups 200] [--delay-ms 50] [--no-delay] [--without-semi-space-flag] [--cpu-prof DIR]
 *
 * The device's services: iperf3 -s, an echo port and a banner port, on 127.0.0.1.
 * - tether: server + agent (enrolled through the real CLI), `tunnels open` listening locally.
 * - ssh -R: sshd on 127.0.0.1 stands for the server; `ssh -N -R` from the device's side forwards
 *   a port on it back to the services; clients connect to that port on sshd.
 * - direct: clients connect to the services themselves.
 * - node relay: Tether's shape with nothing of Tether in it (three Node processes, two TLS hops:
 *   bench/tunnel-throughput/node-relay.mjs), the floor for this design in Node.
 * Measured: iperf3 -t N client → device and -R (1 and 4 streams), Gbit/s; CPU seconds per GB of
 * the processes in between (from /proc/PID/stat); 1-byte ping-pong RTT p50/p99; connect → first
 * byte of a banner over fresh connections. Then the same with DELAY ms RTT added on the agent's
 * leg (agent → server), on ssh's connection (ssh → sshd) and, for direct, in front of the
 * services, by a delaying relay in this process (bench/tunnel-throughput/delay-relay.ts).
 */
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {readFile} from 'node:fs/promises'
import {loadavg, userInfo} from 'node:os'
import {join} from 'node:path'
import {parseArgs, promisify} from 'node:util'
import {adminApi} from '../test/agent/helpers/admin-api.js'
import {enrollAgent, type AgentUnderTest} from '../test/agent/helpers/agent-process.js'
import {eventually, stopChild, SupportCenter} from '../test/agent/helpers/support-center.js'
import {BIN, testEnv, waitForOutput} from '../test/helpers/cli.js'
import {freePort, TestSshd} from '../test/helpers/sshd.js'
import {DelayRelay} from './tunnel-throughput/delay-relay.js'
import {runIperf, startIperfServer} from './tunnel-throughput/iperf.js'
import {percentiles, pingPong, processTree, setupTimes, startServices, treeCpuSeconds, waitForBanner, type Percentiles} from './tunnel-throughput/probes.js'

const {values} = parseArgs({
  options: {
    seconds: {type: 'string', default: '5'},
    rounds: {type: 'string', default: '10000'},
    setups: {type: 'string', default: '200'},
    'delay-ms': {type: 'string', default: '50'},
    'no-delay': {type: 'boolean', default: false},
    /** Directory for V8 CPU profiles of the server, the agent and `tunnels open` (written when they stop). */
    'cpu-prof': {type: 'string'},
    /** A/B: Tether's processes without `--semi-space-growth-factor=1` (src/shared/runtime-flags.ts). */
    'without-semi-space-flag': {type: 'boolean', default: false},
  },
})
const SECONDS = Math.min(30, Math.max(1, Number(values.seconds)))
const ROUNDS = Math.min(100_000, Math.max(100, Number(values.rounds)))
const SETUPS = Math.min(2000, Math.max(10, Number(values.setups)))
const DELAY_MS = Math.min(500, Math.max(2, Number(values['delay-ms'])))
const SERIAL = 'SN-BENCH-TUN'
/** Environment of Tether's server, agent and `tunnels open` processes: the preloads asked for. */
const preloads = [...(values['cpu-prof'] ? ['cpu-profile.mjs'] : []), ...(values['without-semi-space-flag'] ? ['without-semi-space-flag.mjs'] : [])]
const TETHER_ENV: Record<string, string> = preloads.length === 0 ? {} : {NODE_OPTIONS: preloads.map((f) => `--import ${new URL(`tunnel-throughput/${f}`, import.meta.url).pathname}`).join(' ')}
if (values['cpu-prof']) TETHER_ENV.TETHER_BENCH_PROFILE_DIR = values['cpu-prof']

interface Ports {
  iperf: number
  echo: number
  banner: number
}

/** A way from the engineer's machine to the device's services, and the processes it costs. */
interface Route {
  name: string
  ports: Ports
  /** Processes whose CPU time counts, by role. */
  cpu: Array<{role: string; pids: () => Promise<number[]>}>
}

interface Throughput {
  gbps: number
  cpuPerGb: Record<string, number>
}

const CASES = [
  {label: 'client → device, 1 stream', parallel: 1, reverse: false},
  {label: 'device → client, 1 stream', parallel: 1, reverse: true},
  {label: 'client → device, 4 streams', parallel: 4, reverse: false},
  {label: 'device → client, 4 streams', parallel: 4, reverse: true},
]

const log = (text: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${text}`)
const children: ChildProcess[] = []
const relays: DelayRelay[] = []
const sc = await SupportCenter.create()
let agent: AgentUnderTest | undefined
let sshd: TestSshd | undefined
try {
  if (values['without-semi-space-flag']) log('Tether processes run WITHOUT --semi-space-growth-factor=1')
  log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (2 cores shared with other sessions: figures move with it)`)
  // The device's services, then the server, the agent allowed to reach them, and sshd.
  const services = await startServices()
  children.push(services.child)
  const device: Ports = {iperf: await freePort(), echo: services.echo, banner: services.banner}
  children.push(await startIperfServer(device.iperf))
  Object.assign(sc.env, TETHER_ENV)
  await sc.start()
  for (const key of Object.keys(TETHER_ENV)) delete sc.env[key]
  await sc.loginAdmin()
  agent = await enrollAgent(sc, SERIAL, {enrollArgs: Object.values(device).flatMap((p) => ['--allow-port', String(p)])})
  await startAgent(agent)
  sshd = await TestSshd.start(join(sc.dir, 'sshd'))
  const cipher = /^ciphers (\S+?),/m.exec(await commandOutput('ssh', ['-G', '-F', '/dev/null', '127.0.0.1']))?.[1] ?? '?'
  log(`ssh default cipher (first offered): ${cipher}`)

  const tunnels = {iperf: await openTunnel(device.iperf), echo: await openTunnel(device.echo), banner: await openTunnel(device.banner)}
  const tether: Route = {
    name: 'tether',
    ports: {iperf: tunnels.iperf.port, echo: tunnels.echo.port, banner: tunnels.banner.port},
    cpu: [
      {role: 'server', pids: async () => [sc.server!.pid!]},
      {role: 'agent', pids: async () => [agent!.child!.pid!]},
      {role: 'CLI', pids: async () => [tunnels.iperf.child.pid!]},
    ],
  }
  let ssh = await startSshR(sshd, sshd.port, device)
  const sshRoute = (): Route => ({
    name: 'ssh -R',
    ports: ssh.ports,
    cpu: [
      {role: 'server', pids: () => processTree(sshd!.child!.pid!)},
      {role: 'agent', pids: async () => [ssh.child.pid!]},
    ],
  })
  const direct: Route = {name: 'direct', ports: device, cpu: []}
  const nodeRelay = await startNodeRelay(device, async (port) => port)

  log('loopback: throughput')
  const loop = await throughputTable([direct, sshRoute(), nodeRelay, tether])
  log('loopback: RTT and set-up')
  const rtt = await latencyTable([direct, sshRoute(), nodeRelay, tether], ROUNDS, SETUPS)
  printThroughput('loopback', loop, [direct, sshRoute(), nodeRelay, tether])
  printLatency('loopback', rtt, ROUNDS, SETUPS)
  await printServerSetup(device.banner, SETUPS)

  if (!values['no-delay']) {
    // The delay goes on the device's leg of each route: agent → server, ssh → sshd, and in front
    // of the services for direct. The engineer's side stays on plain loopback.
    const cap = Math.floor(Number((await readFile('/proc/sys/net/ipv4/tcp_rmem', 'utf8')).trim().split(/\s+/)[2]) / 2)
    const relay = async (port: number): Promise<number> => {
      const r = new DelayRelay(port, DELAY_MS / 2, cap)
      relays.push(r)
      return r.listen()
    }
    log(`${DELAY_MS} ms RTT on the device's leg (relay holding up to ${(cap / 2 ** 20).toFixed(0)} MiB each way)`)
    await agent.stop()
    await startAgent(agent, {server: `https://127.0.0.1:${await relay(sc.port)}`})
    await stopChild(ssh.child)
    ssh = await startSshR(sshd, await relay(sshd.port), device)
    const slowDirect: Route = {name: 'direct', ports: {iperf: await relay(device.iperf), echo: await relay(device.echo), banner: await relay(device.banner)}, cpu: []}
    const slowNodeRelay = await startNodeRelay(device, relay)
    await waitForBanner(tether.ports.banner, 20_000)
    const slow = await throughputTable([slowDirect, sshRoute(), slowNodeRelay, tether])
    const slowRounds = 100
    const slowSetups = Math.min(SETUPS, 50)
    const slowRtt = await latencyTable([slowDirect, sshRoute(), slowNodeRelay, tether], slowRounds, slowSetups)
    printThroughput(`${DELAY_MS} ms RTT on the device's leg`, slow, [slowDirect, sshRoute(), slowNodeRelay, tether])
    printLatency(`${DELAY_MS} ms RTT on the device's leg`, slowRtt, slowRounds, slowSetups)
    await printServerSetup(device.banner, slowSetups)
  }
  log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
} finally {
  for (const r of relays) await r.close()
  // SIGINT/SIGTERM so that CPU profiles, if asked for, are written.
  for (const c of children.reverse()) await stopChild(c, 'SIGINT')
  await agent?.stop()
  await sshd?.stop()
  await sc.dispose()
}

async function startAgent(a: AgentUnderTest, extra: Record<string, unknown> = {}): Promise<void> {
  await a.tune(extra)
  a.start([], TETHER_ENV)
  await eventually(async () => (await a.status()).state === 'connected', 'agent connected', 30_000)
}

/** `tether tunnels open` for one device port; resolves with its local port once it listens. */
async function openTunnel(port: number): Promise<{child: ChildProcess; port: number}> {
  const child = spawn(process.execPath, [BIN, 'tunnels', 'open', SERIAL, '--port', String(port), '--listen', '127.0.0.1:0', '--reason', 'bench'], {env: testEnv({...sc.adminEnv(), ...TETHER_ENV}), stdio: ['ignore', 'pipe', 'pipe']})
  children.push(child)
  const line = await waitForOutput(child, /Forwarding 127\.0\.0\.1:(\d+)/, 30_000)
  child.stdout!.resume()
  child.stderr!.resume()
  return {child, port: Number(/:(\d+)/.exec(line)![1])}
}

/** `ssh -N -R` from the device's side to sshd at sshPort (directly or through a relay). */
async function startSshR(d: TestSshd, sshPort: number, to: Ports): Promise<{child: ChildProcess; ports: Ports}> {
  const ports: Ports = {iperf: await freePort(), echo: await freePort(), banner: await freePort()}
  const forwards = (Object.keys(ports) as Array<keyof Ports>).flatMap((k) => ['-R', `127.0.0.1:${ports[k]}:127.0.0.1:${to[k]}`])
  const {username} = userInfo()
  const args = ['-F', '/dev/null', '-i', join(d.dir, 'user_key'), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ExitOnForwardFailure=yes', '-N', '-p', String(sshPort), ...forwards, `${username}@127.0.0.1`]
  const child = spawn('ssh', args, {stdio: ['ignore', 'ignore', 'inherit']})
  children.push(child)
  await waitForBanner(ports.banner, 20_000)
  return {child, ports}
}

/**
 * The three processes of node-relay.mjs for the three services; `backLeg` maps the back
 * process's port to the one the middle dials (a delaying relay in front of it, or itself).
 */
async function startNodeRelay(to: Ports, backLeg: (port: number) => Promise<number>): Promise<Route> {
  const certDir = join(sc.dir, 'node-relay')
  const cert = join(certDir, 'cert.pem')
  const key = join(certDir, 'key.pem')
  await promisify(execFile)('sh', ['-c', `mkdir -p '${certDir}' && [ -f '${cert}' ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '${key}' -out '${cert}' -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null`])
  const names = Object.keys(to) as Array<keyof Ports>
  const back = await Promise.all(names.map(() => freePort()))
  const middle = await Promise.all(names.map(() => freePort()))
  const front = await Promise.all(names.map(() => freePort()))
  const dialled = await Promise.all(back.map((p) => backLeg(p)))
  const start = async (role: string, pairs: number[][]): Promise<ChildProcess> => {
    const child = spawn(process.execPath, [new URL('tunnel-throughput/node-relay.mjs', import.meta.url).pathname, role, cert, key, JSON.stringify(pairs)], {stdio: ['ignore', 'pipe', 'inherit']})
    children.push(child)
    await waitForOutput(child, /ready/, 10_000)
    return child
  }
  const backChild = await start('back', names.map((n, i) => [back[i], to[n]]))
  const middleChild = await start('middle', names.map((_, i) => [middle[i], dialled[i]]))
  const frontChild = await start('front', names.map((_, i) => [front[i], middle[i]]))
  return {
    name: 'node relay',
    ports: Object.fromEntries(names.map((n, i) => [n, front[i]])) as unknown as Ports,
    cpu: [
      {role: 'server', pids: async () => [middleChild.pid!]},
      {role: 'agent', pids: async () => [backChild.pid!]},
      {role: 'CLI', pids: async () => [frontChild.pid!]},
    ],
  }
}

function commandOutput(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {stdio: ['ignore', 'pipe', 'ignore']})
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('close', () => resolve(out))
  })
}

/** Every case on every route, routes interleaved per case so that load drifts hit all of them. */
async function throughputTable(routes: Route[]): Promise<Map<string, Throughput>> {
  const results = new Map<string, Throughput>()
  for (const c of CASES) {
    for (const route of routes) {
      const pids = await Promise.all(route.cpu.map((g) => g.pids()))
      const before = await Promise.all(pids.map((p) => treeCpuSeconds(p)))
      const r = await runIperf(route.ports.iperf, {seconds: SECONDS, parallel: c.parallel, reverse: c.reverse})
      const after = await Promise.all(pids.map((p) => treeCpuSeconds(p)))
      const cpuPerGb = Object.fromEntries(route.cpu.map((g, i) => [g.role, (after[i] - before[i]) / (r.bytes / 1e9)]))
      results.set(`${route.name}|${c.label}`, {gbps: r.gbps, cpuPerGb})
      log(`  ${route.name.padEnd(10)} ${c.label}: ${r.gbps.toFixed(2)} Gbit/s ${Object.entries(cpuPerGb).map(([k, v]) => `${k} ${v.toFixed(2)} s/GB`).join(', ')}`)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
  return results
}

async function latencyTable(routes: Route[], rounds: number, setups: number): Promise<Map<string, {rtt: Percentiles; setup: Percentiles; failed: number}>> {
  const results = new Map<string, {rtt: Percentiles; setup: Percentiles; failed: number}>()
  for (const route of routes) {
    const rtt = percentiles(await pingPong(route.ports.echo, rounds, Math.min(500, rounds / 10), 120_000))
    const setup = await setupTimes(route.ports.banner, setups, 120_000)
    results.set(route.name, {rtt, setup: percentiles(setup.samples), failed: setup.failed})
    // First and last tenth apart: a set-up that grows with the number of streams so far shows here.
    const tenth = Math.max(1, Math.floor(setup.samples.length / 10))
    const [first, last] = [percentiles(setup.samples.slice(0, tenth)).p50, percentiles(setup.samples.slice(-tenth)).p50]
    log(`  ${route.name.padEnd(10)} RTT p50 ${rtt.p50.toFixed(3)} ms p99 ${rtt.p99.toFixed(3)} ms (${rtt.n}); set-up p50 ${percentiles(setup.samples).p50.toFixed(1)} ms (${setup.samples.length}, ${setup.failed} failed; first tenth ${first.toFixed(1)}, last tenth ${last.toFixed(1)})`)
  }
  return results
}

function printThroughput(title: string, results: Map<string, Throughput>, routes: Route[]): void {
  console.log(`\n### Throughput, ${title} (iperf3 -t ${SECONDS}; CPU s/GB: server side / device side / engineer's CLI; node relay: middle / back / front)\n`)
  console.log('| case | route | Gbit/s | vs ssh -R | vs direct | CPU s/GB server | agent (ssh client) | CLI | sum |')
  console.log('|---|---|---|---|---|---|---|---|---|')
  for (const c of CASES) {
    const ssh = results.get(`ssh -R|${c.label}`)!.gbps
    const direct = results.get(`direct|${c.label}`)!.gbps
    for (const route of routes) {
      const r = results.get(`${route.name}|${c.label}`)!
      const cpu = (role: string): string => (r.cpuPerGb[role] === undefined ? '–' : r.cpuPerGb[role].toFixed(2))
      const sum = Object.values(r.cpuPerGb).reduce((a, b) => a + b, 0)
      console.log(`| ${c.label} | ${route.name} | ${r.gbps.toFixed(2)} | ${(r.gbps / ssh).toFixed(2)}x | ${(r.gbps / direct).toFixed(2)}x | ${cpu('server')} | ${cpu('agent')} | ${cpu('CLI')} | ${route.cpu.length ? sum.toFixed(2) : '–'} |`)
    }
  }
}

function printLatency(title: string, results: Map<string, {rtt: Percentiles; setup: Percentiles; failed: number}>, rounds: number, setups: number): void {
  console.log(`\n### Latency, ${title} (ping-pong: ${rounds} round trips of 1 byte; set-up: ${setups} fresh connections, connect → first byte of a banner)\n`)
  console.log('| route | RTT p50 ms | RTT p99 ms | set-up p50 ms | set-up p99 ms | set-up failures |')
  console.log('|---|---|---|---|---|---|')
  for (const [name, r] of results) console.log(`| ${name} | ${r.rtt.p50.toFixed(3)} | ${r.rtt.p99.toFixed(3)} | ${r.setup.p50.toFixed(1)} | ${r.setup.p99.toFixed(1)} | ${r.failed} |`)
}

/**
 * The server's share of set-up: `setupMs` of the last `count` tunnel.open audit events to the
 * banner port (from the upgrade request to the device's data leg being there; audit write, 101
 * and the CLI's side are not in it).
 */
async function printServerSetup(bannerPort: number, count: number): Promise<void> {
  const setups: number[] = []
  let after = 0
  for (let page = 0; page < 50; page++) {
    const {json: body} = await adminApi(sc, 'GET', `/audit/events?device=${SERIAL}&action=tunnel.open&limit=1000&after=${after}`)
    for (const e of body.events as Array<{details: {target?: string; setupMs?: number}}>) if (e.details.target === `127.0.0.1:${bannerPort}` && typeof e.details.setupMs === 'number') setups.push(e.details.setupMs)
    if (body.next === null) break
    after = body.next as number
  }
  const p = percentiles(setups.slice(-count))
  console.log(`\nOf which the server's set-up (tunnel.open audit \`setupMs\`: upgrade request → device's data leg attached), last ${p.n}: p50 ${p.p50} ms, p99 ${p.p99} ms`)
}
