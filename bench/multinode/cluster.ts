/**
 * bench/multinode's server nodes, set up as docs/operations.md says ("PostgreSQL and several
 * nodes"): `tether server init` once on an empty PostgreSQL database, that data dir copied to
 * every other node, then `tether server start` per node (the built dist) with its own --node-id
 * and --peer-address. Each node runs with the inspector on a loopback port so that the bench can
 * collect garbage before it reads a node's RSS (the same "after GC" as bench/agent-fanin).
 */
import {type ChildProcess, execFile} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'
import WebSocket from 'ws'
import {runTether, startTether, waitForOutput} from '../../test/helpers/cli.js'
import {freePort} from '../../test/helpers/sshd.js'
import {sleep} from '../agent-fanin/ipc.js'

const run = promisify(execFile)
const LISTENING = /tether server listening on https:\/\/127\.0\.0\.1:(\d+)/
const INSPECTOR = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/

export interface ServerNode {
  id: string
  port: number
  dataDir: string
  child?: ChildProcess
  inspector?: string
  /** The last 64 KiB of its output, for the error message when it fails. */
  output: string
}

export class Cluster {
  private constructor(
    readonly nodes: ServerNode[],
    readonly env: Record<string, string>,
    readonly caFile: string,
  ) {}

  /** init on node-1's data dir, copies for the others (keeping modes, as `rsync -a` would). */
  static async create(dir: string, count: number, databaseUrl: string, adminPassword: string): Promise<Cluster> {
    const env = {TETHER_DATABASE_URL: databaseUrl}
    await writeFile(join(dir, 'admin.pw'), `${adminPassword}\n`)
    const first = join(dir, 'node-1')
    const init = await runTether(['server', 'init', '--data-dir', first, '--hostname', 'localhost', '--hostname', '127.0.0.1', '--admin-password-file', join(dir, 'admin.pw')], {env, timeoutMs: 120_000})
    if (init.code !== 0) throw new Error(`server init failed (${init.code}): ${init.stderr}`)
    const nodes: ServerNode[] = []
    for (let i = 1; i <= count; i++) {
      const dataDir = join(dir, `node-${i}`)
      if (i > 1) await run('cp', ['-a', first, dataDir])
      nodes.push({id: `node-${i}`, port: await freePort(), dataDir, output: ''})
    }
    return new Cluster(nodes, env, join(first, 'tls', 'ca.crt'))
  }

  /** Starts every node; each knows its own peer address before it listens. */
  async startAll(rateLimit: number): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.start(n, rateLimit)))
  }

  private async start(node: ServerNode, rateLimit: number): Promise<void> {
    const args = ['server', 'start', '--data-dir', node.dataDir, '--host', '127.0.0.1', '--port', String(node.port), '--log-level', 'warn', '--node-id', node.id, '--peer-address', `127.0.0.1:${node.port}`, '--rate-limit', String(rateLimit)]
    const child = startTether(args, {env: {...this.env, NODE_OPTIONS: '--inspect=127.0.0.1:0'}})
    node.child = child
    const keep = (d: Buffer): void => {
      node.output = (node.output + d.toString()).slice(-65_536)
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    const inspector = waitForOutput(child, INSPECTOR, 60_000)
    await waitForOutput(child, LISTENING, 60_000)
    node.inspector = INSPECTOR.exec(await inspector)![1]
  }

  /** RSS of a node after three full collections (through its inspector), from /proc. */
  async rssAfterGc(node: ServerNode): Promise<number> {
    await inspect(node, async (send) => {
      for (let i = 0; i < 3; i++) {
        await send('HeapProfiler.collectGarbage')
        await sleep(100)
      }
    })
    const status = await readFile(`/proc/${node.child!.pid}/status`, 'utf8')
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024
  }

  /** A V8 CPU profile of each node in `which` while `during` runs, written as DIR/ID.cpuprofile. */
  async profile<T>(which: ServerNode[], dir: string, during: () => Promise<T>): Promise<T> {
    const sessions = which.map((node) => {
      let stop: (() => void) | undefined
      const stopped = new Promise<void>((resolve) => (stop = resolve))
      let started: () => void = () => undefined
      const ready = new Promise<void>((resolve) => (started = resolve))
      const done = inspect(node, async (send) => {
        await send('Profiler.enable')
        await send('Profiler.start')
        started()
        await stopped
        const {profile} = (await send('Profiler.stop')) as {profile: unknown}
        await writeFile(join(dir, `${node.id}.cpuprofile`), JSON.stringify(profile))
      })
      return {ready, done, stop: () => stop!()}
    })
    await Promise.all(sessions.map((s) => Promise.race([s.ready, s.done])))
    try {
      return await during()
    } finally {
      for (const s of sessions) s.stop()
      await Promise.all(sessions.map((s) => s.done))
    }
  }

  async kill9(node: ServerNode): Promise<void> {
    const child = node.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  /** SIGTERM (leases dropped at once), SIGKILL after 10 s. */
  async stopAll(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        const child = node.child
        if (!child || child.exitCode !== null || child.signalCode !== null) return
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }),
    )
  }
}

type Send = (method: string, params?: Record<string, unknown>) => Promise<unknown>

/** One inspector session on a node (its loopback debugger port): `use` sends commands. */
async function inspect<T>(node: ServerNode, use: (send: Send) => Promise<T>): Promise<T> {
  const ws = new WebSocket(node.inspector!)
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  const pending = new Map<number, (result: unknown) => void>()
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as {id?: number; result?: unknown}
    if (m.id !== undefined) pending.get(m.id)?.(m.result)
  })
  let next = 0
  const send: Send = (method, params) =>
    new Promise((resolve, reject) => {
      const id = ++next
      const timer = setTimeout(() => reject(new Error(`${node.id}: no answer to ${method}`)), 60_000)
      pending.set(id, (result) => {
        clearTimeout(timer)
        pending.delete(id)
        resolve(result)
      })
      ws.send(JSON.stringify({id, method, ...(params ? {params} : {})}))
    })
  try {
    return await use(send)
  } finally {
    ws.close()
  }
}
