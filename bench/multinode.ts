/**
 * bench/multinode: three `tether server start` nodes on one PostgreSQL behind a real haproxy
 * (the docs' configuration: TCP passthrough, balance leastconn, /readyz health checks), N
 * simulated agents (bench/agent-fanin's: real protocol, mTLS device certificates, the agent's
 * backoff) spread over the nodes by haproxy. Prints, each with its baseline from the same run:
 *   1. job dispatch latency p50/p99, requested on another node than the device's vs the same;
 *   2. tunnel throughput with the legs on other nodes than the owner vs all on the owner;
 *   3. kill -9 of one node: time until all its agents are held by the others;
 *   4. server RSS per agent on each node (after GC), against bench/agent-fanin's one node.
 * Loopback only; every loop is bounded in count and time.
 *
 *   npm run build && flock /tmp/bench.lock node --import tsx bench/multinode.ts [--agents 3000]
 *     [--jobs 200] [--seconds 5] [--rounds 2] [--timeout 180] [--profile DIR]
 *
 * Needs haproxy, iperf3, PostgreSQL at TETHER_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test;
 * a fresh database is created and dropped) and `ulimit -n` above the agent count.
 */
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {readServerConfig} from '../src/server/config-store.js'
import {migrateToLatest, openDatabase, type OpenedDatabase} from '../src/server/db/connect.js'
import {loadCa} from '../src/server/pki/ca.js'
import {createTestDatabase, type TestDatabase} from '../test/server/helpers/database.js'
import {freePort} from '../test/helpers/sshd.js'
import {AgentFleet} from './agent-fanin/fleet.js'
import {log, mb, ms, sleep} from './agent-fanin/ipc.js'
import {issueBenchCerts} from './agent-fanin/issue.js'
import {percentiles} from './tunnel-throughput/probes.js'
import {Api, insertBenchUser} from './multinode/api.js'
import {Cluster} from './multinode/cluster.js'
import {Haproxy} from './multinode/haproxy.js'
import {measureDispatch} from './multinode/jobs.js'
import {heldOutside, holdersByNode} from './multinode/presence.js'
import {measureTunnels, startRig, stopRig, TUNNEL_CASES, type TunnelRig} from './multinode/tunnels.js'
import {runIperf} from './tunnel-throughput/iperf.js'

const {values} = parseArgs({
  options: {
    agents: {type: 'string', default: '3000'},
    jobs: {type: 'string', default: '200'},
    seconds: {type: 'string', default: '5'},
    rounds: {type: 'string', default: '2'},
    timeout: {type: 'string', default: '180'},
    keep: {type: 'boolean', default: false},
    /** Directory for V8 CPU profiles of the three nodes during one more run of the two-hop case. */
    profile: {type: 'string'},
  },
})
const N = Number(values.agents)
const JOBS = Math.min(2000, Math.max(10, Number(values.jobs)))
const SECONDS = Math.min(30, Math.max(1, Number(values.seconds)))
const ROUNDS = Math.min(10, Math.max(1, Number(values.rounds)))
const PHASE_MS = Number(values.timeout) * 1000
const PASSWORD = 'Bench-multinode-0123456789'
const NODES = 3
if (!Number.isInteger(N) || N < 3 || N > 15_000) throw new Error('--agents must be 3..15000')
const fileLimit = Number((await readFile('/proc/self/limits', 'utf8')).match(/^Max open files\s+(\d+)/m)?.[1] ?? 1024)
if (fileLimit < N / 2 + 1000) throw new Error(`ulimit -n is ${fileLimit}: too low for ${N} agents`)

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ')
const dir = await mkdtemp(join(tmpdir(), 'tether-multinode-'))
let database: TestDatabase | undefined
let opened: OpenedDatabase | undefined
let cluster: Cluster | undefined
let haproxy: Haproxy | undefined
let fleet: AgentFleet | undefined
let rig: TunnelRig | undefined
const api = {current: undefined as Api | undefined}
try {
  log(`load average at start: ${load()} (2 cores shared with other sessions)`)
  // 1. One PostgreSQL database, init once, the data dir copied to each node, the bench's user and devices.
  database = await createTestDatabase('postgres')
  cluster = await Cluster.create(dir, NODES, database.url, PASSWORD)
  opened = await openDatabase(database.url)
  await migrateToLatest(opened)
  const totpSecret = await insertBenchUser(database.url, PASSWORD)
  const config = (await readServerConfig(cluster.nodes[0].dataDir))!
  let t = performance.now()
  const issued = await issueBenchCerts(opened.db, await loadCa(config.deviceCa.certFile, config.deviceCa.keyFile), N)
  const certsFile = join(dir, 'bench-certs.jsonl')
  await writeFile(certsFile, issued.lines.join('\n') + '\n')
  log(`issued ${N} device certificates in ${ms(performance.now() - t)} (fast path, shared key)`)

  // 2. Three nodes, haproxy in front, memory of each before any agent.
  await cluster.startAll(1_000_000)
  const nodes = cluster.nodes
  const ids = nodes.map((n) => n.id)
  const steerPorts = {device: await freePort(), engineer: await freePort()}
  const started = await Haproxy.start(dir, {port: await freePort(), steer: steerPorts, nodes: nodes.map((n) => ({id: n.id, port: n.port})), caFile: cluster.caFile, fileLimit})
  haproxy = started.haproxy
  const lbPort = Number(/bind 127\.0\.0\.1:(\d+)/.exec(await readFile(join(dir, 'haproxy.cfg'), 'utf8'))![1])
  log(`haproxy on 127.0.0.1:${lbPort} with the docs' config (changed: ${started.changes.join('; ')}); nodes ${nodes.map((n) => `${n.id}:${n.port}`).join(', ')}`)
  const rssBefore = await Promise.all(nodes.map((n) => cluster!.rssAfterGc(n)))
  log(`node RSS before agents (after GC): ${rssBefore.map(mb).join(', ')}`)

  // 3. N agents through haproxy.
  const serverCaPem = await readFile(cluster.caFile, 'utf8')
  fleet = await AgentFleet.load({url: `https://127.0.0.1:${lbPort}`, serverCaPem, keyPem: issued.keyPem, certsFile, count: N, procs: 2, rampConcurrency: 128})
  t = performance.now()
  fleet.start()
  await fleet.until(() => fleet!.welcomed() === N, PHASE_MS, 'initial connect')
  const acceptMs = performance.now() - t
  log(`accepted all ${N} agents through haproxy in ${ms(acceptMs)} (${Math.round(N / (acceptMs / 1000))}/s); errors: ${fleet.errors()}`)
  let holders = new Map<string, string[]>()
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    holders = await holdersByNode(opened.db)
    if ([...holders.values()].reduce((a, s) => a + s.length, 0) === N) break
    await sleep(250)
  }
  log(`presence: ${ids.map((id) => `${id} ${holders.get(id)?.length ?? 0}`).join(', ')}`)
  await sleep(2000)
  const rssAfter = await Promise.all(nodes.map((n) => cluster!.rssAfterGc(n)))
  const perAgentKb = nodes.map((n, i) => (rssAfter[i] - rssBefore[i]) / Math.max(1, holders.get(n.id)?.length ?? 0) / 1024)
  for (const [i, n] of nodes.entries()) log(`${n.id}: RSS ${mb(rssBefore[i])} → ${mb(rssAfter[i])} with ${holders.get(n.id)?.length ?? 0} agents: ${perAgentKb[i].toFixed(1)} KB per agent`)

  // 4. Job dispatch latency, cross-node vs same-node.
  api.current = new Api(serverCaPem)
  const token = await api.current.login(nodes[0].port, PASSWORD, totpSecret)
  const dispatch = await measureDispatch(api.current, fleet, {nodes: nodes.map((n) => ({id: n.id, port: n.port})), holders, count: JOBS, limitMs: PHASE_MS})
  const q = (s: number[]): string => {
    const p = percentiles(s)
    return `p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms (n=${p.n})`
  }
  log(`job → agent, cross-node: ${q(dispatch.cross.received)}; same node: ${q(dispatch.same.received)}; lost: ${dispatch.lost}`)
  log(`job → succeeded on the requesting node, cross-node: ${q(dispatch.cross.done)}; same node: ${q(dispatch.same.done)}`)

  // 5. Tunnel throughput: legs on other nodes than the owner vs all on the owner.
  rig = await startRig({dir, api: api.current, apiPort: nodes[0].port, token, caFile: cluster.caFile, haproxy, steerPorts})
  log(`tunnel agent connected through haproxy to ${ids[0]}; iperf3 -t ${SECONDS}, ${ROUNDS} rounds (load ${load()})`)
  const processes = {CLI: rig.open.pid!, ...Object.fromEntries(nodes.map((n) => [n.id, n.child!.pid!])), agent: rig.agent.child!.pid!, haproxy: haproxy.child.pid!}
  const tunnels = await measureTunnels(rig, haproxy, ids, ROUNDS, SECONDS, processes)
  const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length)
  const base = [...tunnels.values()][0]
  for (const [name, r] of tunnels) {
    const ratio = `${(mean(r.up) / mean(base.up)).toFixed(2)}x / ${(mean(r.down) / mean(base.down)).toFixed(2)}x`
    log(`tunnel, ${name}: client → device ${r.up.map((g) => g.toFixed(2)).join(', ')} Gbit/s, device → client ${r.down.map((g) => g.toFixed(2)).join(', ')} Gbit/s; vs same node ${ratio}; connections where wanted ${r.routed.wanted}, elsewhere ${r.routed.elsewhere}`)
    const cpu = Object.entries(r.cpuPerGb)
    log(`  CPU s/GB: ${cpu.map(([p, v]) => `${p} ${v.toFixed(1)}`).join(', ')}; sum ${cpu.reduce((a, [, v]) => a + v, 0).toFixed(1)}, busiest process ${Math.max(...cpu.map(([, v]) => v)).toFixed(1)}`)
  }
  if (values.profile) {
    const twoHops = TUNNEL_CASES[TUNNEL_CASES.length - 1]
    await haproxy.steer('engineer', twoHops.engineer)
    await haproxy.steer('device', twoHops.device)
    const run = await cluster.profile(nodes, values.profile, () => runIperf(rig!.localPort, {seconds: SECONDS, parallel: 1, reverse: false}))
    log(`CPU profiles of the nodes during "${twoHops.name}", client → device (${run.gbps.toFixed(2)} Gbit/s), in ${values.profile} (summary: bench/tunnel-throughput/profile-top.ts)`)
  }
  await stopRig(rig)
  rig = undefined

  // 6. kill -9 the node (other than the first) holding the most agents: until all are held elsewhere.
  const victim = nodes.slice(1).reduce((a, b) => ((holders.get(b.id)?.length ?? 0) > (holders.get(a.id)?.length ?? 0) ? b : a))
  const lost = holders.get(victim.id)?.length ?? 0
  fleet.resetErrors()
  log(`kill -9 ${victim.id} holding ${lost} agents (load ${load()})`)
  t = performance.now()
  await cluster.kill9(victim)
  let agentsBackMs = NaN
  let presenceBackMs = NaN
  let dipped = false
  const killDeadline = Date.now() + PHASE_MS
  while ((Number.isNaN(agentsBackMs) || Number.isNaN(presenceBackMs)) && Date.now() < killDeadline) {
    const welcomed = fleet.welcomed()
    if (welcomed < N) dipped = true
    if (dipped && welcomed === N && Number.isNaN(agentsBackMs)) agentsBackMs = performance.now() - t
    if (Number.isNaN(presenceBackMs) && (await heldOutside(opened.db, victim.id)) === N) presenceBackMs = performance.now() - t
    await sleep(100)
  }
  log(`all ${N} agents welcomed again ${ms(agentsBackMs)} after the kill; all held by the other nodes (presence) after ${ms(presenceBackMs)}; errors on the way: ${fleet.errors()}`)
  const after = await holdersByNode(opened.db)
  log(`presence after: ${ids.map((id) => `${id} ${after.get(id)?.length ?? 0}`).join(', ')}; nodes list: ${JSON.stringify(((await api.current.call(nodes[0].port, 'GET', '/nodes')).nodes as Array<{id: string; agents: number}>).map((n) => `${n.id}:${n.agents}`))}`)
  log(`load average at the end: ${load()}`)

  const p = (s: number[]) => percentiles(s)
  console.log(
    JSON.stringify({
      agents: N,
      acceptAllMs: Math.round(acceptMs),
      perNode: Object.fromEntries(nodes.map((n, i) => [n.id, {agents: holders.get(n.id)?.length ?? 0, rssBeforeMB: +(rssBefore[i] / 2 ** 20).toFixed(1), rssAfterMB: +(rssAfter[i] / 2 ** 20).toFixed(1), rssPerAgentKB: +perAgentKb[i].toFixed(1)}])),
      jobReceivedMs: {cross: p(dispatch.cross.received), same: p(dispatch.same.received)},
      jobSucceededVisibleMs: {cross: p(dispatch.cross.done), same: p(dispatch.same.done)},
      jobsLost: dispatch.lost,
      tunnelGbps: Object.fromEntries([...tunnels].map(([name, r]) => [name, {up: +mean(r.up).toFixed(3), down: +mean(r.down).toFixed(3), upVsSame: +(mean(r.up) / mean(base.up)).toFixed(2), downVsSame: +(mean(r.down) / mean(base.down)).toFixed(2), cpuPerGb: Object.fromEntries(Object.entries(r.cpuPerGb).map(([k, v]) => [k, +v.toFixed(2)]))}])),
      killed: {node: victim.id, agents: lost, agentsBackMs: Math.round(agentsBackMs), presenceBackMs: Math.round(presenceBackMs), errors: fleet.errors()},
      load: loadavg(),
    }),
  )
} catch (error) {
  for (const n of cluster?.nodes ?? []) if (n.output.trim()) console.error(`--- ${n.id} output (tail) ---\n${n.output.slice(-3000)}`)
  throw error
} finally {
  await stopRig(rig).catch((error: unknown) => console.error(`tunnel rig: ${(error as Error).message}`))
  fleet?.kill()
  await api.current?.close()
  await haproxy?.stop()
  await cluster?.stopAll()
  await opened?.close()
  await database?.drop()
  if (!values.keep) await rm(dir, {recursive: true, force: true})
}
