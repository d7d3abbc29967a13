/**
 * bench/agent-fanin's server process: a real `startServer` (HTTPS + hub) on a data dir made by
 * the parent, steered over IPC: `stats` (RSS after GC and where it is, connected agents, and the
 * phase's CPU, GC and event-loop delay since the previous `stats`), `broadcast` (a ping request
 * to every agent). Run with --expose-gc so RSS is measured after a collection.
 */
import {readdirSync, writeFileSync} from 'node:fs'
import {Session} from 'node:inspector'
import {monitorEventLoopDelay, PerformanceObserver} from 'node:perf_hooks'
import {getHeapSpaceStatistics, getHeapStatistics} from 'node:v8'
import {applyRuntimeFlags} from '../../src/shared/runtime-flags.js'

// As in bin/run.js (unless the run compares without them), and like it before the server's
// modules load: flags set after that found a young generation already grown by the loading.
if (process.env.TETHER_BENCH_NO_FLAGS !== '1') applyRuntimeFlags(['server'])
const {startServer} = await import('../../src/server/server.js')
const [dataDir, portText] = process.argv.slice(2)

// Per phase (reset by each `stats`): event-loop delay, GC pauses by kind, CPU time.
const loopDelay = monitorEventLoopDelay({resolution: 10})
loopDelay.enable()
const GC_KINDS: Record<number, string> = {1: 'scavenge', 2: 'minorMC', 4: 'markCompact', 8: 'incremental', 16: 'weakCallbacks'}
let gc: Record<string, {count: number; ms: number}> = {}
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = GC_KINDS[((entry as unknown as {detail?: unknown}).detail as {kind?: number} | undefined)?.kind ?? 0] ?? 'other'
    const slot = (gc[kind] ??= {count: 0, ms: 0})
    slot.count++
    slot.ms += entry.duration
  }
}).observe({entryTypes: ['gc']})
let cpuMark = process.cpuUsage()
let wallMark = performance.now()

const server = await startServer({dataDir, host: '127.0.0.1', port: Number(portText), logLevel: 'warn', shutdownTimeoutMs: 5000})

type Command = {type: 'stats' | 'lite' | 'broadcast' | 'stop' | 'profile-start' | 'profile-stop'; id: number; file?: string}
const inspector = new Session()

async function afterGc(): Promise<NodeJS.MemoryUsage> {
  const collect = (globalThis as {gc?: () => void}).gc
  for (let i = 0; i < 3; i++) {
    collect?.()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return process.memoryUsage()
}

/** The phase since the previous call: CPU share, GC, loop delay; then the counters restart. */
function phase(): Record<string, unknown> {
  const cpu = process.cpuUsage(cpuMark)
  const wallMs = performance.now() - wallMark
  const out = {
    wallMs: Math.round(wallMs),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    cpuUserMs: Math.round(cpu.user / 1000),
    cpuSystemMs: Math.round(cpu.system / 1000),
    gc: Object.fromEntries(Object.entries(gc).map(([k, v]) => [k, {count: v.count, ms: Math.round(v.ms)}])),
    loopDelayMs: {mean: +(loopDelay.mean / 1e6).toFixed(1), p99: +(loopDelay.percentile(99) / 1e6).toFixed(1), max: +(loopDelay.max / 1e6).toFixed(1)},
  }
  gc = {}
  loopDelay.reset()
  cpuMark = process.cpuUsage()
  wallMark = performance.now()
  return out
}

process.on('message', (raw) => {
  const command = raw as Command
  const reply = (body: Record<string, unknown>): void => {
    process.send?.({id: command.id, ...body})
  }
  if (command.type === 'stats') {
    const spent = phase() // before the forced GCs below, which would count as the phase's
    void afterGc().then((mem) => {
      const heap = getHeapStatistics()
      reply({
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        heapTotal: mem.heapTotal,
        external: mem.external,
        arrayBuffers: mem.arrayBuffers,
        mallocedMemory: heap.malloced_memory,
        // The young generation's size now: V8 shrinks it when allocation is slow, and with
        // --semi-space-growth-factor=1 (runtime-flags.ts) it never grows back.
        newSpaceKB: Math.round((getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 1024),
        fds: readdirSync('/proc/self/fd').length,
        connected: server.app.hub.size,
        phase: spent,
      })
    })
  } else if (command.type === 'lite') {
    reply({fds: readdirSync('/proc/self/fd').length, connected: server.app.hub.size})
  } else if (command.type === 'broadcast') {
    void server.app.hub.broadcastPing(10_000).then((result) => reply({...result}))
  } else if (command.type === 'profile-start') {
    // A CPU profile of one phase only (the initial fan-in), where --cpu-prof would cover it all.
    inspector.connect()
    inspector.post('Profiler.enable', () => inspector.post('Profiler.start', () => reply({started: true})))
  } else if (command.type === 'profile-stop') {
    inspector.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(command.file!, JSON.stringify(result.profile))
      inspector.disconnect()
      reply({written: !error})
    })
  } else if (command.type === 'stop') {
    void server.stop().then(() => {
      reply({stopped: true})
      process.exit(0)
    })
  }
})
process.send?.({type: 'ready', port: server.port})
