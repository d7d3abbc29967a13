import type {ChildProcess} from 'node:child_process'
import {readdir, readFile, readlink, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {runTether, startTether, type RunResult} from '../../helpers/cli.js'
import {expectExit, stopChild, type SupportCenter} from './support-center.js'

/** A device agent data dir driven through the real CLI. */
export class AgentUnderTest {
  child?: ChildProcess
  output = ''

  constructor(
    readonly dataDir: string,
    readonly env: Record<string, string | undefined> = {},
  ) {}

  run(args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<RunResult> {
    return runTether([...args, '--data-dir', this.dataDir], {env: {TETHER_CREDENTIAL_STORE: 'file', ...this.env, ...extraEnv}})
  }

  /** Short backoff, fast polling, short heartbeat timeout: tests never wait for production intervals. */
  async tune(extra: Record<string, unknown> = {}): Promise<void> {
    const path = join(this.dataDir, 'agent.json')
    const config = JSON.parse(await readFile(path, 'utf8'))
    Object.assign(config, {backoff: {baseMs: 200, capMs: 1000, stableAfterMs: 1000, revokedRetryMs: 600_000}, pollMs: 200, connectTimeoutMs: 5000}, extra)
    await writeFile(path, JSON.stringify(config, null, 2))
  }

  start(args: string[] = [], extraEnv: Record<string, string | undefined> = {}): ChildProcess {
    this.output = ''
    this.child = startTether(['agent', 'start', '--data-dir', this.dataDir, ...args], {env: {TETHER_CREDENTIAL_STORE: 'file', ...this.env, ...extraEnv}})
    this.child.stdout?.on('data', (d) => (this.output += d))
    this.child.stderr?.on('data', (d) => (this.output += d))
    return this.child
  }

  async stop(): Promise<void> {
    await stopChild(this.child)
  }

  async status(): Promise<Record<string, unknown>> {
    const r = await this.run(['agent', 'status', '--json'])
    return JSON.parse(r.stdout) as Record<string, unknown>
  }
}

/**
 * A device enrolled with the support center through the real CLI (`agent enroll` with a fresh
 * token, trusting the server's CA file) in DIR/agent (or dirName), not started yet.
 */
export async function enrollAgent(sc: SupportCenter, serial: string, options: {dirName?: string; enrollArgs?: string[]} = {}): Promise<AgentUnderTest> {
  const agent = new AgentUnderTest(join(sc.dir, options.dirName ?? 'agent'))
  const token = await sc.enrollToken(serial)
  expectExit(await agent.run(['agent', 'enroll', '--server', sc.url, '--token', token, '--serial', serial, '--ca', sc.caFile, '--json', ...(options.enrollArgs ?? [])]), 0)
  return agent
}

/** TCP/UDP sockets of a process by state, from /proc (LISTEN = 0A; UDP bound = 07). */
export async function socketsOf(pid: number): Promise<{listening: number; established: number}> {
  const inodes = new Set<string>()
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const m = /^socket:\[(\d+)\]$/.exec(target)
    if (m) inodes.add(m[1])
  }
  let listening = 0
  let established = 0
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const text = await readFile(`/proc/net/${table}`, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols.length < 10 || !inodes.has(cols[9])) continue
      const state = cols[3]
      if (table.startsWith('tcp') && state === '0A') listening++
      else if (table.startsWith('udp') && state === '07') listening++
      else if (table.startsWith('tcp') && state === '01') established++
    }
  }
  return {listening, established}
}
