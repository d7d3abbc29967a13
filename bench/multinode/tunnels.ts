/**
 * Tunnel throughput across nodes: one real `tether agent` (enrolled through the CLI) whose
 * control channel is on the first node, iperf3 -s as the device's service, and one `tether
 * tunnels open` on the engineer's side. Both reach the nodes through haproxy's steered frontends,
 * so each case puts the engineer's leg and the device's data leg on the nodes it names: all on
 * the owner (same node), the engineer's on another node (its leg forwarded to the owner), and
 * both on other nodes (both forwarded). iperf3 runs each way, the cases interleaved per round.
 * haproxy's per-server session counters confirm where each case's connections went.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {join} from 'node:path'
import {AgentUnderTest} from '../../test/agent/helpers/agent-process.js'
import {BIN, testEnv, waitForOutput} from '../../test/helpers/cli.js'
import {eventually} from '../../test/helpers/eventually.js'
import {freePort} from '../../test/helpers/sshd.js'
import {runIperf, startIperfServer} from '../tunnel-throughput/iperf.js'
import {cpuSeconds} from '../tunnel-throughput/probes.js'
import type {Api} from './api.js'
import type {Haproxy} from './haproxy.js'

export const TUNNEL_SERIAL = 'SN-MULTINODE-TUN'

export interface TunnelCase {
  name: string
  /** Node indexes (0 = the owner, where the agent's control channel is). */
  engineer: number
  device: number
}

export const TUNNEL_CASES: TunnelCase[] = [
  {name: 'same node (both legs on the owner)', engineer: 0, device: 0},
  {name: "engineer's leg on another node", engineer: 1, device: 0},
  {name: 'both legs on other nodes', engineer: 1, device: 2},
]

export interface TunnelRig {
  agent: AgentUnderTest
  iperf: ChildProcess
  open: ChildProcess
  /** Where iperf3 clients connect: `tunnels open`'s local port. */
  localPort: number
}

export interface RigSetup {
  dir: string
  api: Api
  apiPort: number
  token: string
  caFile: string
  haproxy: Haproxy
  steerPorts: {device: number; engineer: number}
}

/** Enrolls and starts the agent (control channel on node 0), starts iperf3 -s and `tunnels open`. */
export async function startRig(s: RigSetup): Promise<TunnelRig> {
  const iperfPort = await freePort()
  const iperf = await startIperfServer(iperfPort)
  await s.haproxy.steer('device', 0)
  await s.haproxy.steer('engineer', 0)
  const enroll = await s.api.call(s.apiPort, 'POST', '/devices/enroll-tokens', {serial: TUNNEL_SERIAL, model: 'bench', customer: 'bench'}, 201)
  const agent = new AgentUnderTest(join(s.dir, 'agent'))
  const device = `https://127.0.0.1:${s.steerPorts.device}`
  const enrolled = await agent.run(['agent', 'enroll', '--server', device, '--token', enroll.token as string, '--serial', TUNNEL_SERIAL, '--ca', s.caFile, '--json', '--allow-port', String(iperfPort)])
  if (enrolled.code !== 0) throw new Error(`agent enroll failed (${enrolled.code}): ${enrolled.stderr}`)
  await agent.tune()
  agent.start()
  await eventually(async () => (await agent.status()).state === 'connected', 'the tunnel agent connected', 30_000)
  const env = testEnv({TETHER_SERVER: `https://127.0.0.1:${s.steerPorts.engineer}`, TETHER_TOKEN: s.token, TETHER_CA: s.caFile, TETHER_CONFIG_DIR: join(s.dir, 'cli'), TETHER_CREDENTIAL_STORE: 'file'})
  const open = spawn(process.execPath, [BIN, 'tunnels', 'open', TUNNEL_SERIAL, '--port', String(iperfPort), '--listen', '127.0.0.1:0', '--reason', 'bench-multinode'], {env, stdio: ['ignore', 'pipe', 'pipe']})
  const line = await waitForOutput(open, /Forwarding 127\.0\.0\.1:(\d+)/, 30_000)
  open.stdout!.resume()
  open.stderr!.resume()
  return {agent, iperf, open, localPort: Number(/:(\d+)/.exec(line)![1])}
}

export async function stopRig(rig: TunnelRig | undefined): Promise<void> {
  if (!rig) return
  rig.open.kill('SIGTERM')
  rig.iperf.kill('SIGTERM')
  await rig.agent.stop()
}

export interface CaseResult {
  up: number[]
  down: number[]
  /** Connections each steered frontend sent to the node the case wanted, and elsewhere. */
  routed: {wanted: number; elsewhere: number}
  /** CPU seconds per GB moved, per process in the path (both directions together). */
  cpuPerGb: Record<string, number>
}

/** The processes a stream can cross, by name: their CPU time is what a hop costs. */
export type PathProcesses = Record<string, number>

/** `rounds` × every case × both directions, iperf3 -t seconds, one stream; Gbit/s. */
export async function measureTunnels(rig: TunnelRig, haproxy: Haproxy, nodeIds: string[], rounds: number, seconds: number, processes: PathProcesses): Promise<Map<string, CaseResult>> {
  const results = new Map<string, CaseResult>(TUNNEL_CASES.map((c) => [c.name, {up: [], down: [], routed: {wanted: 0, elsewhere: 0}, cpuPerGb: {}}]))
  const cpu = new Map<string, Record<string, number>>(TUNNEL_CASES.map((c) => [c.name, {}]))
  const gb = new Map<string, number>(TUNNEL_CASES.map((c) => [c.name, 0]))
  for (let round = 0; round < rounds; round++) {
    for (const c of TUNNEL_CASES) {
      await haproxy.steer('engineer', c.engineer)
      await haproxy.steer('device', c.device)
      const before = {engineer: await haproxy.sessionsOf('steer-engineer'), device: await haproxy.sessionsOf('steer-device')}
      const r = results.get(c.name)!
      for (const reverse of [false, true]) {
        const cpuBefore = await cpuOf(processes)
        const run = await runIperf(rig.localPort, {seconds, parallel: 1, reverse})
        const cpuAfter = await cpuOf(processes)
        ;(reverse ? r.down : r.up).push(run.gbps)
        gb.set(c.name, gb.get(c.name)! + run.bytes / 1e9)
        const spent = cpu.get(c.name)!
        for (const name of Object.keys(processes)) spent[name] = (spent[name] ?? 0) + cpuAfter[name] - cpuBefore[name]
      }
      for (const [leg, index] of [['engineer', c.engineer], ['device', c.device]] as const) {
        const after = await haproxy.sessionsOf(`steer-${leg}`)
        for (const [k, id] of nodeIds.entries()) {
          const added = (after.get(id) ?? 0) - (before[leg].get(id) ?? 0)
          if (k === index) r.routed.wanted += added
          else r.routed.elsewhere += added
        }
      }
    }
  }
  for (const [name, r] of results) for (const [p, seconds] of Object.entries(cpu.get(name)!)) r.cpuPerGb[p] = seconds / Math.max(1e-9, gb.get(name)!)
  return results
}

async function cpuOf(processes: PathProcesses): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const [name, pid] of Object.entries(processes)) out[name] = await cpuSeconds(pid)
  return out
}
