import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {readdir, readFile} from 'node:fs/promises'
import {connect} from 'node:net'

/**
 * The device's services for the latency probes, in their own process (so the bench's own event
 * loop is not on both ends): an echo port and a banner port (one byte on accept, as an SSH
 * server's banner comes first).
 */
const SERVICES = `
const net = require('node:net')
const echo = net.createServer({noDelay: true}, (s) => { s.on('error', () => {}); s.pipe(s) })
const banner = net.createServer({noDelay: true}, (s) => { s.on('error', () => {}); s.write('B'); s.resume() })
echo.listen(0, '127.0.0.1', () => banner.listen(0, '127.0.0.1', () =>
  process.stdout.write(JSON.stringify({echo: echo.address().port, banner: banner.address().port}) + '\\n')))
`

export async function startServices(): Promise<{child: ChildProcess; echo: number; banner: number}> {
  const child = spawn(process.execPath, ['-e', SERVICES], {stdio: ['ignore', 'pipe', 'inherit']})
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString()))
    child.once('exit', (code) => reject(new Error(`services exited (${code})`)))
  })
  return {child, ...(JSON.parse(line) as {echo: number; banner: number})}
}

export interface Percentiles {
  n: number
  p50: number
  p99: number
}

export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
  return {n: sorted.length, p50: at(0.5), p99: at(0.99)}
}

/**
 * 1-byte ping-pong on one connection to an echo service: `rounds` round trips after `warmup`,
 * each timed (ms). Bounded by `limitMs`: whatever was measured by then is returned.
 */
export function pingPong(port: number, rounds: number, warmup: number, limitMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const samples: number[] = []
    const byte = Buffer.from([0x2a])
    const socket = connect({port, host: '127.0.0.1', noDelay: true})
    const deadline = performance.now() + limitMs
    let sentAt = 0
    let done = 0
    const send = (): void => {
      sentAt = performance.now()
      socket.write(byte)
    }
    const finish = (error?: Error): void => {
      socket.destroy()
      if (error && samples.length === 0) reject(error)
      else resolve(samples)
    }
    socket.once('connect', send)
    socket.on('data', (d: Buffer) => {
      // One byte out, one byte back: a chunk never holds more than the one answer.
      if (d.length !== 1) return finish(new Error(`echo returned ${d.length} bytes`))
      const now = performance.now()
      if (done++ >= warmup) samples.push(now - sentAt)
      if (samples.length >= rounds || now > deadline) return finish()
      send()
    })
    socket.on('error', finish)
    socket.on('close', () => finish(new Error('echo connection closed')))
  })
}

/**
 * Stream set-up as a user sees it: from connect() on the local port to the first byte of the
 * banner, over `count` fresh connections one after another (ms each). Bounded by `limitMs`.
 */
export async function setupTimes(port: number, count: number, limitMs: number): Promise<{samples: number[]; failed: number}> {
  const samples: number[] = []
  let failed = 0
  const deadline = performance.now() + limitMs
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const ms = await new Promise<number | null>((resolve) => {
      const started = performance.now()
      const socket = connect({port, host: '127.0.0.1', noDelay: true})
      const timer = setTimeout(() => done(null), 10_000)
      const done = (value: number | null): void => {
        clearTimeout(timer)
        socket.destroy()
        resolve(value)
      }
      socket.once('data', () => done(performance.now() - started))
      socket.on('error', () => done(null))
      socket.on('close', () => done(null))
    })
    if (ms === null) failed++
    else samples.push(ms)
  }
  return {samples, failed}
}

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

/** utime + stime of a process, in seconds (0 once it is gone). */
export async function cpuSeconds(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / TICKS_PER_SECOND
}

/** A process and its descendants (sshd forks a process per connection; that one does the work). */
export async function processTree(root: number): Promise<number[]> {
  const parents = new Map<number, number>()
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const text = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '')
    if (text) parents.set(Number(name), Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]))
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid)
  return tree
}

export async function treeCpuSeconds(pids: number[]): Promise<number> {
  let sum = 0
  for (const pid of pids) sum += await cpuSeconds(pid)
  return sum
}

/** Waits until a loopback port answers with a byte (a banner through a forward that is up). */
export async function waitForBanner(port: number, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs
  while (Date.now() < deadline) {
    const {samples} = await setupTimes(port, 1, 2000)
    if (samples.length === 1) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`nothing answers through 127.0.0.1:${port} after ${limitMs} ms`)
}
