/**
 * The simulated agents of a bench, in one or more child processes (agents.ts): started together,
 * counted together. The parent sees their figures as the children report them (every 200 ms)
 * and any other message they send (a job received) through `onMessage`.
 */
import {type ChildProcess, fork} from 'node:child_process'
import {join} from 'node:path'
import {nextMessage, sleep} from './ipc.js'

export interface AgentStats {
  openMs: number
  welcomeMs: number
  opened: number
  welcomes: number
  welcomed: number
  refused: Record<string, number>
  network: Record<string, number>
  pings: number
}

export interface FleetSetup {
  /** Where the agents connect: one server node, or a load balancer in front of several. */
  url: string
  serverCaPem: string
  keyPem: string
  /** JSON lines {serial, certPem} from issueBenchCerts. */
  certsFile: string
  count: number
  procs: number
  /** Handshakes in flight during the first ramp-up. */
  rampConcurrency: number
  /**
   * Source address per process (127.0.0.x: each its own ephemeral ports), for agents.ts
   * versions that take one; absent = the kernel's choice.
   */
  localAddresses?: string[]
}

const here = new URL('.', import.meta.url).pathname

export class AgentFleet {
  private readonly stats: AgentStats[] = []

  private constructor(
    readonly children: ChildProcess[],
    readonly count: number,
  ) {}

  /** Forks the agent processes and waits until each has built its agents' TLS contexts. */
  static async load(setup: FleetSetup): Promise<AgentFleet> {
    const fleet = new AgentFleet([], setup.count)
    const per = Math.ceil(setup.count / setup.procs)
    const loaded: Array<Promise<unknown>> = []
    for (let i = 0; i < setup.procs; i++) {
      const args = {url: setup.url, serverCaPem: setup.serverCaPem, keyPem: setup.keyPem, certsFile: setup.certsFile, from: i * per, to: Math.min(setup.count, (i + 1) * per), rampConcurrency: setup.rampConcurrency, localAddress: setup.localAddresses?.[i]}
      const child = fork(join(here, 'agents.ts'), [JSON.stringify(args)], {execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
      fleet.children.push(child)
      fleet.stats[i] = {openMs: 0, welcomeMs: 0, opened: 0, welcomes: 0, welcomed: 0, refused: {}, network: {}, pings: 0}
      child.on('message', (m: {type: string} & AgentStats) => {
        if (m.type === 'stats') fleet.stats[i] = m
      })
      loaded.push(nextMessage(child, (m) => m.type === 'loaded', 60_000))
    }
    // They build their TLS contexts in parallel; one failing to load stops the bench.
    await Promise.all(loaded)
    return fleet
  }

  /** Every agent starts connecting (the ramp-up). */
  start(): void {
    for (const c of this.children) c.send({type: 'start'})
  }

  resetErrors(): void {
    for (const c of this.children) c.send({type: 'reset-errors'})
  }

  onMessage(listener: (message: {type: string} & Record<string, unknown>) => void): void {
    for (const c of this.children) c.on('message', listener)
  }

  /** Agents that are connected and welcomed right now. */
  welcomed(): number {
    return this.stats.reduce((sum, s) => sum + (s?.welcomed ?? 0), 0)
  }

  /** Mean time from the connect to the WebSocket open and to the welcome. */
  meanLatency(): {openMs: number; welcomeMs: number} {
    const t = this.stats.reduce((a, s) => ({o: a.o + s.openMs, n: a.n + s.opened, w: a.w + s.welcomeMs, m: a.m + s.welcomes}), {o: 0, n: 0, w: 0, m: 0})
    return {openMs: t.o / Math.max(1, t.n), welcomeMs: t.w / Math.max(1, t.m)}
  }

  /** Upgrade refusals (HTTP status) and socket errors other than "server not listening yet". */
  errors(): string {
    const merged: Record<string, number> = {}
    for (const s of this.stats) {
      for (const [k, v] of Object.entries(s?.refused ?? {})) merged[`HTTP ${k}`] = (merged[`HTTP ${k}`] ?? 0) + v
      for (const [k, v] of Object.entries(s?.network ?? {})) if (k !== 'ECONNREFUSED') merged[k] = (merged[k] ?? 0) + v
    }
    const parts = Object.entries(merged).map(([k, v]) => `${k}×${v}`)
    return parts.length ? parts.join(', ') : 'none'
  }

  /** Resolves once `check` holds (polled every 50 ms); rejects after timeoutMs naming `what`. */
  async until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`${what}: only ${this.welcomed()}/${this.count} agents after ${timeoutMs / 1000} s; errors: ${this.errors()}`)
      await sleep(50)
    }
  }

  kill(): void {
    for (const c of this.children) c.kill('SIGKILL')
  }
}
