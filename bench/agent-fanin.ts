/**
 * bench/agent-fanin: N simulated agents (real protocol: mTLS, hello, heartbeats) from one or
 * two child processes connect to one real server node (a child process running startServer).
 * Prints: time to accept all N, server RSS per agent, the time for all to come back after the
 * server is killed (-9) and started again on the same port, and the time for a broadcast
 * `request` (kind ping) to be answered by all N. Loopback only; bounded in count and time.
 *
 *   node --import tsx bench/agent-fanin.ts [N=1000] [--procs 2] [--timeout 120] [--profile FILE] [--profile-storm FILE]
 *
 * Each agent process connects from its own source address (127.0.0.2, .3, …): one address has
 * ~28,000 ephemeral ports, which a reconnect storm of 19,000 agents with retries would exhaust.
 * FANIN_SERVER_FLAGS: Node/V8 flags for the server process; default --max-semi-space-size=16, the
 * setting docs/operations.md ("Heap") gives a node for many thousands of agents ("" for tether's default).
 * Per phase the server reports its CPU time, GC pauses, event-loop delay and where its memory
 * is (V8 heap, external, the rest: TLS and socket state in C++); the kernel's listen-queue
 * counters (nstat, machine-wide) and the load average are printed beside them.
 *
 * Fast path (documented in docs/agent-protocol.md): device certificates are issued directly
 * with the data dir's device CA, all for one shared bench key, and written straight into the
 * registry — enrollment over HTTP is not what this measures. Needs `ulimit -n` above N + 100
 * in this shell (the children inherit it); this script refuses to start otherwise.
 */
import {type ChildProcess, execFileSync, fork} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {readServerConfig, writeServerConfig} from '../src/server/config-store.js'
import {migrateToLatest, openDatabase} from '../src/server/db/connect.js'
import {initDataDir} from '../src/server/init.js'
import {loadCa} from '../src/server/pki/ca.js'
import {ask, log, mb, ms, nextMessage, sleep} from './agent-fanin/ipc.js'
import {issueBenchCerts} from './agent-fanin/issue.js'

const {values, positionals} = parseArgs({
  allowPositionals: true,
  options: {
    procs: {type: 'string', default: '2'},
    /** Seconds to stay connected and idle after the broadcast: the server's steady CPU (heartbeats). */
    idle: {type: 'string', default: '0'},
    /** File for a CPU profile of the restarted server until all agents are back. */
    'profile-storm': {type: 'string'},
    timeout: {type: 'string', default: '120'},
    keep: {type: 'boolean', default: false},
    /** Directory for a V8 CPU profile of the (restarted) server: where does its time go. */
    'cpu-prof': {type: 'string'},
    /** File for a CPU profile of the server during the initial fan-in only. */
    profile: {type: 'string'},
  },
})
const N = Number(positionals[0] ?? 1000)
const PROCS = Math.max(1, Math.min(8, Number(values.procs)))
const PHASE_TIMEOUT_MS = Number(values.timeout) * 1000
if (!Number.isInteger(N) || N < 1 || N > 20_000) throw new Error('N must be 1..20000')

const here = new URL('.', import.meta.url).pathname
const tsx = ['--import', 'tsx']

interface AgentStats {
  openMs: number
  welcomeMs: number
  opened: number
  welcomes: number
  welcomed: number
  refused: Record<string, number>
  network: Record<string, number>
  pings: number
  cpuMs?: number
}

const dir = await mkdtemp(join(tmpdir(), 'tether-fanin-'))
const children: ChildProcess[] = []
let server: ChildProcess | undefined
const workerStats: AgentStats[] = []

try {
  // 1. A data dir with room for N connections, and N enrolled devices.
  await initDataDir({dataDir: dir, hostnames: ['localhost', '127.0.0.1']})
  const config = (await readServerConfig(dir))!
  // Below the fd limit: past it accept() fails with EMFILE, and libuv then accepts and closes
  // connections (resets) and leaves the rest in the listen queue; maxConnections closes them cleanly.
  const fdLimit = Number(execFileSync('sh', ['-c', 'ulimit -n'], {encoding: 'utf8'}).trim()) || 20_000
  config.limits.maxConnections = Math.min(N + 1000, fdLimit - 100)
  await writeServerConfig(config)
  const opened = await openDatabase(config.database)
  await migrateToLatest(opened)
  let t = performance.now()
  const issued = await issueBenchCerts(opened.db, await loadCa(config.deviceCa.certFile, config.deviceCa.keyFile), N)
  await opened.close()
  const certsFile = join(dir, 'bench-certs.jsonl')
  await writeFile(certsFile, issued.lines.join('\n') + '\n')
  log(`issued ${N} device certificates in ${ms(performance.now() - t)} (fast path, shared key)`)

  // 2. The server, and its memory before any agent.
  let port = 0
  const startServerChild = async (): Promise<void> => {
    // FANIN_SERVER_ENV="K=V K2=V2": environment for the server only (e.g. LD_PRELOAD of another malloc).
    const extraEnv = Object.fromEntries((process.env.FANIN_SERVER_ENV ?? '').split(' ').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
    server = fork(join(here, 'agent-fanin/server.ts'), [dir, String(port)], {env: {...process.env, ...extraEnv}, execArgv: ['--expose-gc', ...(process.env.FANIN_SERVER_FLAGS ?? '--max-semi-space-size=16').split(' ').filter(Boolean), ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : []), ...tsx], stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
    const ready = (await nextMessage(server, (m) => m.type === 'ready', 30_000)) as {port: number}
    port = ready.port
  }
  await startServerChild()
  const before = (await ask(server!, 'stats')) as ServerStats
  log(`server listening on 127.0.0.1:${port}, RSS ${mb(before.rss)} (heap used ${mb(before.heapUsed)}, external ${mb(before.external)}, young generation ${before.newSpaceKB} KB); load ${load()}`)

  // 3. Agent processes: connect all N.
  const serverCaPem = await readFile(config.tls.caFile, 'utf8')
  const per = Math.ceil(N / PROCS)
  const loading: Array<Promise<unknown>> = []
  for (let i = 0; i < PROCS; i++) {
    const setup = {url: `https://127.0.0.1:${port}`, serverCaPem, keyPem: issued.keyPem, certsFile, from: i * per, to: Math.min(N, (i + 1) * per), rampConcurrency: Number(process.env.FANIN_RAMP ?? 128), localAddress: `127.0.0.${2 + i}`}
    const child = fork(join(here, 'agent-fanin/agents.ts'), [JSON.stringify(setup)], {execArgv: tsx, stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
    children.push(child)
    workerStats[i] = {openMs: 0, welcomeMs: 0, opened: 0, welcomes: 0, welcomed: 0, refused: {}, network: {}, pings: 0}
    child.on('message', (m: {type: string} & AgentStats) => {
      if (m.type === 'stats') workerStats[i] = m
    })
    loading.push(nextMessage(child, (m) => m.type === 'loaded', 120_000))
  }
  // Each builds one TLS context per agent first (seconds per thousand): all at once.
  await Promise.all(loading)
  if (values.profile) await ask(server!, 'profile-start')
  let kernel = tcpCounters()
  let clientCpu = clientCpuMs()
  t = performance.now()
  for (const c of children) c.send({type: 'start'})
  await until(() => welcomed() === N, PHASE_TIMEOUT_MS, 'initial connect')
  const acceptMs = performance.now() - t
  if (values.profile) {
    await ask(server!, 'profile-stop', {file: values.profile})
    log(`server CPU profile of the fan-in written to ${values.profile}`)
  }
  const lat = workerStats.reduce((a, s) => ({o: a.o + s.openMs, n: a.n + s.opened, w: a.w + s.welcomeMs, m: a.m + s.welcomes}), {o: 0, n: 0, w: 0, m: 0})
  log(`mean time to WebSocket open ${ms(lat.o / lat.n)}, to welcome ${ms(lat.w / lat.m)}`)
  log(`accepted all ${N} agents in ${ms(acceptMs)} (${Math.round(N / (acceptMs / 1000))}/s); errors: ${errors()}`)
  const acceptStats = (await ask(server!, 'stats')) as ServerStats
  log(`agent processes: ${ms(clientCpuMs() - clientCpu)} CPU during the fan-in`)
  log(`fan-in: ${phaseText(acceptStats.phase)}; young generation ${acceptStats.newSpaceKB} KB; kernel ${kernelText(kernel)}; load ${load()}`)
  await sleep(1000)
  const after = (await ask(server!, 'stats')) as ServerStats
  const perAgent = (after.rss - before.rss) / N
  log(`server RSS ${mb(after.rss)} with ${after.connected} agents: ${(perAgent / 1024).toFixed(1)} KB per agent`)
  log(
    `  per agent: V8 heap used ${kb((after.heapUsed - before.heapUsed) / N)}, heap reserved ${kb((after.heapTotal - before.heapTotal) / N)}, external ${kb((after.external - before.external) / N)}, ` +
      `rest (native: TLS, sockets, malloc) ${kb((after.rss - after.heapTotal - after.external - (before.rss - before.heapTotal - before.external)) / N)}; fds ${after.fds}`,
  )

  // 4. Broadcast: one ping request to every agent, answered by all.
  const broadcast = (await ask(server!, 'broadcast')) as {sent: number; answered: number; elapsedMs: number}
  log(`broadcast ping: ${broadcast.answered}/${broadcast.sent} answered in ${ms(broadcast.elapsedMs)}`)

  let idle: Phase | undefined
  if (Number(values.idle) > 0) {
    await ask(server!, 'stats')
    await sleep(Number(values.idle) * 1000)
    idle = ((await ask(server!, 'stats')) as ServerStats).phase
    log(`idle with ${N} agents for ${values.idle} s: ${phaseText(idle)}; load ${load()}`)
  }

  // 5. Kill -9 and start again on the same port: time until every agent is back.
  for (const c of children) c.send({type: 'reset-errors'})
  kernel = tcpCounters()
  clientCpu = clientCpuMs()
  t = performance.now()
  server!.kill('SIGKILL')
  await new Promise((resolve) => server!.once('exit', resolve))
  await startServerChild()
  const upMs = performance.now() - t
  log(`server killed and restarted (listening again after ${ms(upMs)})`)
  if (values['profile-storm']) await ask(server!, 'profile-start')
  await sleep(400)
  for (const c of children) c.send({type: 'reset-errors'})
  // Every 5 s: server sockets (fds), agents welcomed there, the listen queue (ss Recv-Q).
  const timeline: string[] = []
  const sampler = setInterval(() => {
    const at = ((performance.now() - t) / 1000).toFixed(0)
    ask(server!, 'lite')
      .then((m) => {
        const {fds, connected} = m as {fds: number; connected: number}
        timeline.push(`${at}s fds ${fds} ready ${connected} acceptQ ${acceptQueue(port)}`)
      })
      .catch(() => undefined)
  }, 5000)
  await until(() => welcomed() === N, PHASE_TIMEOUT_MS, 'reconnect after restart')
  clearInterval(sampler)
  log(`storm timeline: ${timeline.join('; ')}`)
  log(`agent processes: ${ms(clientCpuMs() - clientCpu)} CPU during the storm`)
  const backMs = performance.now() - t
  log(`all ${N} agents back ${ms(backMs)} after the kill (${ms(backMs - upMs)} after the server listened again); upgrade refusals/errors after restart: ${errors()}`)
  if (values['profile-storm']) {
    await ask(server!, 'profile-stop', {file: values['profile-storm']})
    log(`server CPU profile of the reconnect storm written to ${values['profile-storm']}`)
  }
  const stormStats = (await ask(server!, 'stats')) as ServerStats
  log(`storm: ${phaseText(stormStats.phase)}; kernel ${kernelText(kernel)}; load ${load()}; server RSS ${mb(stormStats.rss)}, fds ${stormStats.fds}, young generation ${stormStats.newSpaceKB} KB`)
  const broadcast2 = (await ask(server!, 'broadcast')) as {sent: number; answered: number; elapsedMs: number}
  log(`broadcast ping after restart: ${broadcast2.answered}/${broadcast2.sent} answered in ${ms(broadcast2.elapsedMs)}`)

  console.log(
    JSON.stringify({
      agents: N,
      processes: PROCS,
      acceptAllMs: Math.round(acceptMs),
      acceptPhase: acceptStats.phase,
      stormPhase: stormStats.phase,
      idlePhase: idle,
      heapUsedPerAgentKB: +((after.heapUsed - before.heapUsed) / N / 1024).toFixed(1),
      externalPerAgentKB: +((after.external - before.external) / N / 1024).toFixed(1),
      serverRssBeforeMB: +(before.rss / 2 ** 20).toFixed(1),
      serverRssAfterMB: +(after.rss / 2 ** 20).toFixed(1),
      rssPerAgentKB: +(perAgent / 1024).toFixed(1),
      broadcastMs: Math.round(broadcast.elapsedMs),
      broadcastAnswered: broadcast.answered,
      restartListeningMs: Math.round(upMs),
      allBackAfterKillMs: Math.round(backMs),
      allBackAfterListeningMs: Math.round(backMs - upMs),
      errorsAfterRestart: errors(),
    }),
  )
} finally {
  // A graceful stop writes the CPU profile; otherwise there is nothing to wait for.
  if (values['cpu-prof'] && server && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.once('exit', resolve))
    await ask(server, 'stop').catch((error: unknown) => console.error(`server stop: ${(error as Error).message}`))
    await exited
  }
  for (const c of children) c.kill('SIGKILL')
  server?.kill('SIGKILL')
  if (!values.keep) await rm(dir, {recursive: true, force: true})
}

interface Phase {
  wallMs: number
  cpuMs: number
  cpuUserMs: number
  cpuSystemMs: number
  gc: Record<string, {count: number; ms: number}>
  loopDelayMs: {mean: number; p99: number; max: number}
}
interface ServerStats {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  fds: number
  newSpaceKB: number
  connected: number
  phase: Phase
}

function phaseText(p: Phase): string {
  const gcText = Object.entries(p.gc).map(([k, v]) => `${k} ${v.count}× ${v.ms} ms`).join(', ')
  return `server CPU ${ms(p.cpuMs)} in ${ms(p.wallMs)} (${Math.round((100 * p.cpuMs) / p.wallMs)}% of a core; sys ${ms(p.cpuSystemMs)}); GC ${gcText || 'none'}; loop delay mean ${p.loopDelayMs.mean} ms, p99 ${p.loopDelayMs.p99} ms, max ${p.loopDelayMs.max} ms`
}

/** The kernel's TCP counters (machine-wide, so other loopback users count too). */
function kernelNames(): string[] {
  return ['TcpExtListenOverflows', 'TcpExtListenDrops', 'TcpExtTCPReqQFullDoCookies', 'TcpExtTCPReqQFullDrop', 'TcpExtSyncookiesSent', 'TcpAttemptFails', 'TcpEstabResets', 'TcpRetransSegs']
}
function tcpCounters(): Record<string, number> {
  try {
    const text = execFileSync('nstat', ['-asz'], {encoding: 'utf8'})
    const out: Record<string, number> = {}
    for (const line of text.split('\n')) {
      const [name, value] = line.trim().split(/\s+/)
      if (kernelNames().includes(name)) out[name] = Number(value)
    }
    return out
  } catch {
    return {}
  }
}
function kernelText(since: Record<string, number>): string {
  const now = tcpCounters()
  const parts = kernelNames().filter((k) => k in now && now[k] - (since[k] ?? 0) > 0).map((k) => `${k.replace(/^Tcp(Ext)?/, '')} +${now[k] - (since[k] ?? 0)}`)
  return parts.length ? parts.join(', ') : 'no drops/resets'
}
/** Connections waiting in the listen socket's accept queue now. */
function acceptQueue(port: number): string {
  try {
    const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], {encoding: 'utf8'}).trim().split('\n')[0]
    return line ? `${line.split(/\s+/)[1]}/${line.split(/\s+/)[2]}` : '?'
  } catch {
    return '?'
  }
}
function load(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' ')
}
function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`
}

function clientCpuMs(): number {
  return workerStats.reduce((sum, s) => sum + (s?.cpuMs ?? 0), 0)
}

function welcomed(): number {
  return workerStats.reduce((sum, s) => sum + (s?.welcomed ?? 0), 0)
}

/** Upgrade refusals (HTTP status) and socket errors other than "server not listening yet". */
function errors(): string {
  const merged: Record<string, number> = {}
  for (const s of workerStats) {
    for (const [k, v] of Object.entries(s?.refused ?? {})) merged[`HTTP ${k}`] = (merged[`HTTP ${k}`] ?? 0) + v
    for (const [k, v] of Object.entries(s?.network ?? {})) if (k !== 'ECONNREFUSED') merged[k] = (merged[k] ?? 0) + v
  }
  const parts = Object.entries(merged).map(([k, v]) => `${k}×${v}`)
  return parts.length ? parts.join(', ') : 'none'
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: only ${welcomed()}/${N} agents after ${timeoutMs / 1000} s; errors: ${errors()}`)
    await sleep(50)
  }
}
