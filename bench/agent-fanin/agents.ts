/**
 * bench/agent-fanin's simulated agents: many real agents in one process. Each speaks the real
 * protocol (mTLS with its own device certificate, hello with inventory, answers pings and
 * `request`s, succeeds `job`s at once, watches the heartbeat) and reconnects with the agent's
 * own backoff with full jitter (src/agent/backoff.ts, base 1 s, cap 60 s). Reports counts to
 * the parent over IPC, and each job it receives (bench/multinode times them).
 */
import {readFileSync} from 'node:fs'
import {createSecureContext, type SecureContext} from 'node:tls'
import WebSocket from 'ws'
import {Backoff, DEFAULT_BACKOFF} from '../../src/agent/backoff.js'
import {AGENT_CONNECT_PATH, MAX_FRAME_BYTES, type ServerToAgent} from '../../src/protocol/agent/messages.js'

interface Setup {
  url: string
  serverCaPem: string
  keyPem: string
  certsFile: string
  from: number
  to: number
  /** Source address of this process's connections (127.0.0.x): its own 28k ephemeral ports. */
  localAddress?: string
  /** Handshakes in flight during the first ramp-up (agents starting up at different times). */
  rampConcurrency: number
}

interface Sim {
  serial: string
  /** Built once per agent, as a real agent does at start; reused by every reconnect. */
  context: SecureContext
  ws: WebSocket | null
  welcomed: boolean
  backoff: Backoff
  lastFrameAt: number
  timeoutMs: number
}

const setup = JSON.parse(process.argv[2]) as Setup
const lines = readFileSync(setup.certsFile, 'utf8').split('\n').filter(Boolean).slice(setup.from, setup.to)
const sims: Sim[] = lines.map((line) => {
  const {serial, certPem} = JSON.parse(line) as {serial: string; certPem: string}
  const context = createSecureContext({cert: certPem, key: setup.keyPem, ca: setup.serverCaPem, minVersion: 'TLSv1.2'})
  return {serial, context, ws: null, welcomed: false, backoff: new Backoff(DEFAULT_BACKOFF), lastFrameAt: 0, timeoutMs: 60_000}
})
const url = new URL(AGENT_CONNECT_PATH, setup.url)
const stats = {openMs: 0, welcomeMs: 0, opened: 0, welcomes: 0, welcomed: 0, refused: {} as Record<string, number>, network: {} as Record<string, number>, pings: 0}
const ramp: Array<() => void> = []
const GATE_RECONNECTS = process.env.FANIN_GATE_RECONNECTS !== '0'
let inFlight = 0

function connect(sim: Sim, onSettled?: () => void): void {
  let settled = false
  const settle = (): void => {
    if (!settled) {
      settled = true
      onSettled?.()
    }
  }
  // ws hands unknown options to tls.connect: the prepared context carries key, cert and CA.
  const ws = new WebSocket(url, {perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES, handshakeTimeout: 20_000, secureContext: sim.context, localAddress: setup.localAddress} as WebSocket.ClientOptions)
  sim.ws = ws
  const began = Date.now()
  ws.on('open', () => {
    sim.lastFrameAt = Date.now()
    stats.opened++
    stats.openMs += sim.lastFrameAt - began
    const inventory = {serial: sim.serial, model: 'sim', agentVersion: 'bench', os: 'linux', uptimeSeconds: 1, addresses: ['127.0.0.1'], accessMode: {mode: 'allow', until: null}}
    ws.send(JSON.stringify({type: 'hello', protocolVersions: [1], inventory}))
  })
  ws.on('ping', () => (sim.lastFrameAt = Date.now()))
  ws.on('message', (data) => {
    sim.lastFrameAt = Date.now()
    const message = JSON.parse(String(data)) as ServerToAgent
    if (message.type === 'welcome') {
      sim.welcomed = true
      stats.welcomes++
      stats.welcomeMs += Date.now() - began
      sim.timeoutMs = message.heartbeatTimeoutMs
      sim.backoff.reset()
      stats.welcomed++
      settle()
    } else if (message.type === 'request') {
      stats.pings++
      ws.send(JSON.stringify({type: 'response', id: message.id, ok: true, result: message.kind === 'ping' ? {pong: true} : {}}))
    } else if (message.type === 'job') {
      // bench/multinode times a job from the API call to here (same clock: one machine), then
      // the job succeeds at once so that its completion is visible on every node.
      process.send?.({type: 'job', serial: sim.serial, jobId: message.jobId, at: performance.timeOrigin + performance.now()})
      ws.send(JSON.stringify({type: 'job-update', jobId: message.jobId, status: 'succeeded', result: {bench: true}}))
    }
  })
  ws.on('unexpected-response', (_req, res) => {
    const key = String(res.statusCode)
    stats.refused[key] = (stats.refused[key] ?? 0) + 1
    ws.terminate()
  })
  ws.on('error', (error: NodeJS.ErrnoException) => {
    const key = error.code ?? error.message.slice(0, 40)
    stats.network[key] = (stats.network[key] ?? 0) + 1
  })
  ws.on('close', () => {
    if (sim.welcomed) stats.welcomed--
    sim.welcomed = false
    sim.ws = null
    settle()
    setTimeout(() => (GATE_RECONNECTS ? queue(sim) : connect(sim)), sim.backoff.next())
  })
}

/**
 * Real agents each have a CPU of their own; thousands simulated in one process share one, so
 * their handshakes would slow each other down until they time out on the client side (what
 * the bench measures is the server). Reconnects therefore start through the same gate as the
 * first ramp: at most rampConcurrency handshakes in flight per process, the rest wait their
 * turn (the wait counts in "all back"). FANIN_GATE_RECONNECTS=0 starts them all at once.
 */
function queue(sim: Sim): void {
  ramp.push(() =>
    connect(sim, () => {
      inFlight--
      pump()
    }),
  )
  pump()
}

function pump(): void {
  while (inFlight < setup.rampConcurrency && ramp.length > 0) {
    inFlight++
    ramp.shift()!()
  }
}

// One timer for every simulated agent: a connection silent past the heartbeat timeout is dead.
setInterval(() => {
  const now = Date.now()
  for (const sim of sims) if (sim.ws && sim.welcomed && now - sim.lastFrameAt > sim.timeoutMs) sim.ws.terminate()
}, 5000).unref()

setInterval(() => {
  const cpu = process.cpuUsage()
  process.send?.({type: 'stats', ...stats, cpuMs: Math.round((cpu.user + cpu.system) / 1000)})
}, 200)

process.on('message', (raw) => {
  const command = raw as {type: string}
  if (command.type === 'start') {
    for (const sim of sims) queue(sim)
  } else if (command.type === 'reset-errors') {
    stats.refused = {}
    stats.network = {}
  }
})
process.send?.({type: 'loaded', count: sims.length})
