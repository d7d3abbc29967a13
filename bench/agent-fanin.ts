/**
 * bench/agent-fanin: N simulated agents (real protocol: mTLS, hello, heartbeats) from one or
 * two child processes connect to one real server node (a child process running startServer).
 * Prints: time to accept all N, server RSS per agent, the time for all to come back after the
 * server is killed (-9) and started again on the same port, and the time for a broadcast
 * `request` (kind ping) to be answered by all N. Loopback only; bounded in count and time.
 *
 *   node --import tsx bench/agent-fanin.ts [N=1000] [--procs 2] [--timeout 120]
 *
 * Fast path (documented in docs/agent-protocol.md): device certificates are issued directly
 * with the data dir's device CA, all for one shared bench key, and written straight into the
 * registry — enrollment over HTTP is not what this measures. Needs `ulimit -n` above N + 100
 * in this shell (the children inherit it); this script refuses to start otherwise.
 */
import {type ChildProcess, fork} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {readServerConfig, writeServerConfig} from '../src/server/config-store.js'
import {migrateToLatest, openDatabase} from '../src/server/db/connect.js'
import {initDataDir} from '../src/server/init.js'
import {loadCa} from '../src/server/pki/ca.js'
import {AgentFleet} from './agent-fanin/fleet.js'
import {ask, log, mb, ms, nextMessage, sleep} from './agent-fanin/ipc.js'
import {issueBenchCerts} from './agent-fanin/issue.js'

const {values, positionals} = parseArgs({
  allowPositionals: true,
  options: {
    procs: {type: 'string', default: '2'},
    timeout: {type: 'string', default: '120'},
    keep: {type: 'boolean', default: false},
    /** Directory for a V8 CPU profile of the (restarted) server: where does its time go. */
    'cpu-prof': {type: 'string'},
    /** File for a CPU profile of the server during the initial fan-in only. */
    profile: {type: 'string'},
  },
})
const N = Number(positionals[0] ?? 1000)
const PROCS = Math.max(1, Math.min(2, Number(values.procs)))
const PHASE_TIMEOUT_MS = Number(values.timeout) * 1000
if (!Number.isInteger(N) || N < 1 || N > 20_000) throw new Error('N must be 1..20000')

const here = new URL('.', import.meta.url).pathname
const tsx = ['--import', 'tsx']

const dir = await mkdtemp(join(tmpdir(), 'tether-fanin-'))
let fleet: AgentFleet | undefined
let server: ChildProcess | undefined

try {
  // 1. A data dir with room for N connections, and N enrolled devices.
  await initDataDir({dataDir: dir, hostnames: ['localhost', '127.0.0.1']})
  const config = (await readServerConfig(dir))!
  config.limits.maxConnections = N + 1000
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
    server = fork(join(here, 'agent-fanin/server.ts'), [dir, String(port)], {execArgv: ['--expose-gc', ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : []), ...tsx], stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
    const ready = (await nextMessage(server, (m) => m.type === 'ready', 30_000)) as {port: number}
    port = ready.port
  }
  await startServerChild()
  const before = (await ask(server!, 'stats')) as {rss: number}
  log(`server listening on 127.0.0.1:${port}, RSS ${mb(before.rss)}`)

  // 3. Agent processes: connect all N.
  const serverCaPem = await readFile(config.tls.caFile, 'utf8')
  fleet = await AgentFleet.load({url: `https://127.0.0.1:${port}`, serverCaPem, keyPem: issued.keyPem, certsFile, count: N, procs: PROCS, rampConcurrency: Number(process.env.FANIN_RAMP ?? 128)})
  if (values.profile) await ask(server!, 'profile-start')
  t = performance.now()
  fleet.start()
  await fleet.until(() => fleet!.welcomed() === N, PHASE_TIMEOUT_MS, 'initial connect')
  const acceptMs = performance.now() - t
  if (values.profile) {
    await ask(server!, 'profile-stop', {file: values.profile})
    log(`server CPU profile of the fan-in written to ${values.profile}`)
  }
  const lat = fleet.meanLatency()
  log(`mean time to WebSocket open ${ms(lat.openMs)}, to welcome ${ms(lat.welcomeMs)}`)
  log(`accepted all ${N} agents in ${ms(acceptMs)} (${Math.round(N / (acceptMs / 1000))}/s); errors: ${fleet.errors()}`)
  await sleep(1000)
  const after = (await ask(server!, 'stats')) as {rss: number; connected: number}
  const perAgent = (after.rss - before.rss) / N
  log(`server RSS ${mb(after.rss)} with ${after.connected} agents: ${(perAgent / 1024).toFixed(1)} KB per agent`)

  // 4. Broadcast: one ping request to every agent, answered by all.
  const broadcast = (await ask(server!, 'broadcast')) as {sent: number; answered: number; elapsedMs: number}
  log(`broadcast ping: ${broadcast.answered}/${broadcast.sent} answered in ${ms(broadcast.elapsedMs)}`)

  // 5. Kill -9 and start again on the same port: time until every agent is back.
  fleet.resetErrors()
  t = performance.now()
  server!.kill('SIGKILL')
  await new Promise((resolve) => server!.once('exit', resolve))
  await startServerChild()
  const upMs = performance.now() - t
  log(`server killed and restarted (listening again after ${ms(upMs)})`)
  await sleep(400)
  fleet.resetErrors()
  await fleet.until(() => fleet!.welcomed() === N, PHASE_TIMEOUT_MS, 'reconnect after restart')
  const backMs = performance.now() - t
  log(`all ${N} agents back ${ms(backMs)} after the kill (${ms(backMs - upMs)} after the server listened again); upgrade refusals/errors after restart: ${fleet.errors()}`)
  const broadcast2 = (await ask(server!, 'broadcast')) as {sent: number; answered: number; elapsedMs: number}
  log(`broadcast ping after restart: ${broadcast2.answered}/${broadcast2.sent} answered in ${ms(broadcast2.elapsedMs)}`)

  console.log(
    JSON.stringify({
      agents: N,
      processes: PROCS,
      acceptAllMs: Math.round(acceptMs),
      serverRssBeforeMB: +(before.rss / 2 ** 20).toFixed(1),
      serverRssAfterMB: +(after.rss / 2 ** 20).toFixed(1),
      rssPerAgentKB: +(perAgent / 1024).toFixed(1),
      broadcastMs: Math.round(broadcast.elapsedMs),
      broadcastAnswered: broadcast.answered,
      restartListeningMs: Math.round(upMs),
      allBackAfterKillMs: Math.round(backMs),
      allBackAfterListeningMs: Math.round(backMs - upMs),
      errorsAfterRestart: fleet.errors(),
    }),
  )
} finally {
  // A graceful stop writes the CPU profile; otherwise there is nothing to wait for.
  if (values['cpu-prof'] && server && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.once('exit', resolve))
    await ask(server, 'stop').catch((error: unknown) => console.error(`server stop: ${(error as Error).message}`))
    await exited
  }
  fleet?.kill()
  server?.kill('SIGKILL')
  if (!values.keep) await rm(dir, {recursive: true, force: true})
}
