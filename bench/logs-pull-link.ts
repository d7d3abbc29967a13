import {type ChildProcess, execFileSync, spawn, spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {readFile} from 'node:fs/promises'
import {createServer, type Server, type Socket, connect} from 'node:net'
import type {AddressInfo} from 'node:net'

/**
 * Helpers of bench/logs-pull.ts: the limited link and the per-process measurements.
 *
 * The limited link (a hospital uplink: 100 Mbit/s, 20 ms RTT) puts the device in a network
 * namespace the bench creates, which has nothing but its own loopback: the agent (and the
 * hand-made pipeline's upload) talk to a relay on that loopback, which is shaped by tc tbf as
 * a whole (everything in the namespace is the device's leg) and delays every chunk by half the
 * RTT in each direction (netem is not available on this kernel). The relay reaches the server
 * in the bench's own namespace through a Unix socket (those cross network namespaces), where a
 * bridge connects it to 127.0.0.1. The pull leg (server -> engineer) stays on plain loopback.
 */
export type RelayTarget = {port: number} | {path: string}

export class DelayRelay {
  private server?: Server
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(
    private readonly target: RelayTarget,
    private readonly oneWayMs: number,
  ) {}

  /** Listens on 127.0.0.1 (port 0: any), or on a Unix socket path. */
  async start(listen: {port: number} | {path: string} = {port: 0}): Promise<number> {
    this.server = createServer((client) => {
      const upstream = 'path' in this.target ? connect(this.target.path) : connect(this.target.port, '127.0.0.1')
      for (const s of [client, upstream]) {
        this.sockets.add(s)
        s.on('close', () => this.sockets.delete(s))
        s.on('error', () => [client, upstream].forEach((x) => x.destroy()))
      }
      this.pipe(client, upstream)
      this.pipe(upstream, client)
    })
    await new Promise<void>((resolve) => ('path' in listen ? this.server!.listen(listen.path, resolve) : this.server!.listen(listen.port, '127.0.0.1', resolve)))
    this.port = 'path' in listen ? 0 : (this.server.address() as AddressInfo).port
    return this.port
  }

  /** Every chunk leaves oneWayMs after it arrived, in order; the source pauses while the sink is full. */
  private pipe(from: Socket, to: Socket): void {
    let pending = 0
    from.on('data', (chunk: Buffer) => {
      pending++
      setTimeout(() => {
        pending--
        if (to.destroyed) return
        if (!to.write(chunk) && !from.isPaused()) {
          from.pause()
          to.once('drain', () => from.resume())
        }
      }, this.oneWayMs)
    })
    from.on('end', () => {
      const close = () => (pending === 0 ? setTimeout(() => to.end(), this.oneWayMs) : setTimeout(close, this.oneWayMs))
      close()
    })
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}

/** A namespace with only its loopback, shaped to `rateMbit` by tbf (each direction crosses lo once). */
export function createLinkNamespace(ns: string, rateMbit: number): void {
  const run = (...args: string[]) => execFileSync('ip', args, {stdio: 'inherit'})
  deleteLinkNamespace(ns)
  run('netns', 'add', ns)
  run('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
  // burst above lo's 64 KiB packets (else tbf drops them); 200 ms of queue at most.
  run('netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', `${rateMbit}mbit`, 'burst', '256kb', 'latency', '200ms')
}

export function deleteLinkNamespace(ns: string): void {
  spawnSync('ip', ['netns', 'delete', ns])
}

/** Runs the relay of this module inside the namespace; resolves with its port once it listens. */
export function startRelayIn(ns: string, unixPath: string, oneWayMs: number): Promise<{port: number; child: ChildProcess}> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--relay', unixPath, String(oneWayMs)], {stdio: ['ignore', 'pipe', 'inherit']})
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve({port: Number(d.toString().trim()), child}))
    child.once('exit', (code) => reject(new Error(`relay exited ${code}`)))
  })
}

// Entry point of the relay inside the namespace: 127.0.0.1:any -> Unix socket, delayed.
if (process.argv[2] === '--relay') {
  const relay = new DelayRelay({path: process.argv[3]!}, Number(process.argv[4]))
  process.stdout.write(`${await relay.start()}\n`)
}

/** CPU seconds (user + system, all threads) a process has used so far; null once it is gone. */
export async function cpuSeconds(pid: number): Promise<number | null> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
  if (!text) return null
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second here).
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** VmHWM (peak) and VmRSS (now) of a process, in KiB; 0 once it is gone. */
export async function memoryKb(pid: number): Promise<{hwm: number; rss: number}> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0)
  return {hwm: field('VmHWM'), rss: field('VmRSS')}
}

/** Polls a child's peak RSS every 50 ms; returns a function giving the peak so far (KiB). */
export function watchRss(child: ChildProcess): () => number {
  let peak = 0
  const timer = setInterval(() => {
    if (child.pid) void memoryKb(child.pid).then(({hwm}) => (peak = Math.max(peak, hwm)))
  }, 50)
  child.once('exit', () => clearInterval(timer))
  return () => peak
}

/** The children's CPU from bash's `times` (second line: children user and system). */
export function childrenCpu(timesOutput: string): number {
  const line = timesOutput.trim().split('\n').at(-1) ?? ''
  const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]))
  return (secs[0] ?? 0) + (secs[1] ?? 0)
}
