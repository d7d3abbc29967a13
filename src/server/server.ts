import type {FastifyInstance} from 'fastify'
import {UnavailableError, UsageError} from '../shared/errors.js'
import {buildApp} from './app.js'
import {prettyLogStream} from './pretty-log.js'
import {BLOB_BACKENDS, type BlobBackend} from './blobs/blob-store.js'
import type {ServerConfig} from './config.js'
import type {z} from 'zod'
import {defaultDataDir, isDatabaseUrl, NodeId, PeerAddress, readServerConfig} from './config-store.js'
import {migrateToLatest, openDatabase, warnIdleConnectionClosed} from './db/connect.js'
import type {Server as TlsServer} from 'node:tls'
import {admitHandshakes} from './http/handshake-admission.js'
import {acceptProxyProtocol, balancerList} from './http/proxy-protocol.js'
import {httpsOptions} from './http/tls-options.js'
import {initDataDir, isEmptyOrMissing, type InitResult, redactUrl} from './init.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface StartOptions {
  dataDir?: string
  host?: string
  port?: number
  /** postgres://… or a SQLite path; beats TETHER_DATABASE_URL, which beats config.json. */
  database?: string
  rateLimitPerMinute?: number
  /** --node-id / --peer-address (beat config.json's cluster section). */
  nodeId?: string
  peerAddress?: string
  logLevel?: LogLevel
  /** Readable log lines (a terminal) instead of pino's JSON lines. */
  prettyLogs?: boolean
  /** Certificate names when a fresh data dir is initialised on the way. */
  hostnames?: string[]
  /** How long SIGTERM waits for open requests before cutting connections. */
  shutdownTimeoutMs?: number
  env?: NodeJS.ProcessEnv
}

export interface StartedServer {
  app: FastifyInstance
  config: ServerConfig
  /** https://HOST:PORT with the bound port (useful with --port 0). */
  url: string
  port: number
  /** "sqlite /path/tether.db" or "postgres postgres://user:***@host/db". */
  databaseLabel: string
  /** Set when this start initialised a fresh data dir (the generated admin password is in it). */
  initialised: InitResult | null
  /** Stops accepting, lets open requests finish for up to shutdownTimeoutMs, then cuts the rest. */
  stop(): Promise<void>
}

/** The effective settings: defaults < config.json < environment < flags. */
export async function resolveConfig(options: StartOptions): Promise<{config: ServerConfig; initialised: InitResult | null}> {
  const env = options.env ?? process.env
  const dataDir = options.dataDir ?? defaultDataDir(env)
  const database = options.database ?? (env.TETHER_DATABASE_URL || undefined)
  let initialised: InitResult | null = null
  let config = await readServerConfig(dataDir)
  if (!config) {
    if (!(await isEmptyOrMissing(dataDir))) {
      throw new UsageError(`--data-dir: ${dataDir} is not a tether data dir (no config.json)`, {
        suggestions: ['Point --data-dir (or TETHER_DATA_DIR) at a directory made by `tether server init`, or at a new one.'],
      })
    }
    initialised = await initDataDir({dataDir, hostnames: options.hostnames, runtimeDatabase: database})
    config = (await readServerConfig(dataDir))!
  }
  if (options.host !== undefined) config.host = options.host
  if (options.port !== undefined) config.port = options.port
  if (database !== undefined) config.database = database
  // Nodes started by a script or a test choose blob storage without editing config.json.
  const blobs = env.TETHER_BLOB_STORAGE
  if (blobs) {
    if (!(BLOB_BACKENDS as readonly string[]).includes(blobs)) throw new UsageError(`TETHER_BLOB_STORAGE: "${blobs}" is not one of ${BLOB_BACKENDS.join(', ')}`)
    config.storage.blobs = blobs as BlobBackend
  }
  if (options.rateLimitPerMinute !== undefined) config.limits.rateLimitPerMinute = options.rateLimitPerMinute
  if (options.nodeId !== undefined) config.cluster.nodeId = checkedFlag(NodeId, options.nodeId, '--node-id')
  if (options.peerAddress !== undefined) config.cluster.peerAddress = checkedFlag(PeerAddress, options.peerAddress, '--peer-address')
  // Short heartbeats for tests and benchmarks without editing config.json.
  const heartbeat = envMs(env, 'TETHER_AGENT_HEARTBEAT_INTERVAL_MS')
  const timeout = envMs(env, 'TETHER_AGENT_HEARTBEAT_TIMEOUT_MS')
  if (heartbeat !== undefined) config.agents.heartbeatIntervalMs = heartbeat
  if (timeout !== undefined) config.agents.heartbeatTimeoutMs = timeout
  return {config, initialised}
}

function checkedFlag(schema: z.ZodType<string>, value: string, flag: string): string {
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new UsageError(`${flag}: "${value}" is not valid: ${parsed.error.issues[0].message}`)
  return parsed.data
}

function envMs(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name]
  if (text === undefined || text === '') return undefined
  const value = Number(text)
  if (!Number.isInteger(value) || value <= 0) throw new UsageError(`${name}: "${text}" is not a positive number of milliseconds`)
  return value
}

/** Opens and migrates the database, builds the app with TLS and limits, and listens. */
export async function startServer(options: StartOptions = {}): Promise<StartedServer> {
  const {config, initialised} = await resolveConfig(options)
  const https = await httpsOptions(config)
  // Until the app's logger exists, a lost idle connection is a process warning.
  let idleError = warnIdleConnectionClosed
  const opened = await openDatabase(config.database, {onIdleError: (error) => idleError(error)})
  let app: FastifyInstance | undefined
  try {
    await migrateToLatest(opened)
    app = await buildApp({
      config,
      database: opened,
      fastify: {
        https,
        logger: {level: options.logLevel ?? 'info', ...(options.prettyLogs ? {stream: prettyLogStream()} : {})},
        requestTimeout: config.limits.requestTimeoutMs,
        // Above the 60 s idle timeout of common load balancers, so the proxy closes first.
        keepAliveTimeout: 65_000,
        // On close, idle keep-alive sockets go at once; busy ones drain.
        forceCloseConnections: 'idle',
      },
    })
    const log = app.log
    idleError = (error) => log.warn({err: error.message}, 'PostgreSQL closed an idle connection; the pool opens a new one when needed')
    app.server.headersTimeout = config.limits.headersTimeoutMs
    app.server.maxConnections = config.limits.maxConnections
    // At most this many TLS handshakes at once; a reconnect storm waits its turn (handshake-admission.ts).
    admitHandshakes(app.server as unknown as TlsServer, {
      concurrency: config.limits.maxConcurrentHandshakes,
      maxWaitMs: Math.floor(config.limits.headersTimeoutMs / 2),
      slotTimeoutMs: config.limits.headersTimeoutMs + 1000,
    })
    // After admission, so that it reads the header first and admission queues only TLS work.
    if (config.proxyProtocolFrom.length > 0) {
      acceptProxyProtocol(app.server as unknown as TlsServer, {
        from: balancerList(config.proxyProtocolFrom),
        timeoutMs: config.limits.headersTimeoutMs,
        onRefused: (remote, why) => log.warn({remote}, `connection from a PROXY protocol balancer closed: ${why}`),
      })
    }
    await listen(app, config)
  } catch (error) {
    if (app) await app.close()
    else await opened.close()
    throw error
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const timeoutMs = options.shutdownTimeoutMs ?? 10_000
  const started = app
  return {
    app,
    config,
    url: `https://${host}:${port}`,
    port,
    databaseLabel: isDatabaseUrl(config.database) ? `postgres ${redactUrl(config.database)}` : `sqlite ${config.database}`,
    initialised,
    stop: () => closeGracefully(started, timeoutMs),
  }
}

async function listen(app: FastifyInstance, config: ServerConfig): Promise<void> {
  try {
    // A deep accept queue: after a restart thousands of agents reconnect within seconds, and
    // Node's default of 511 would drop SYNs (1 s client retransmits) instead of queueing them.
    // The kernel caps it at net.core.somaxconn (docs/operations.md "Sizing one node").
    await app.listen({host: config.host, port: config.port, backlog: config.limits.listenBacklog})
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new UnavailableError(`cannot listen on ${config.host}:${config.port} (${code})`, {
        cause: error,
        suggestions: ['Choose another --port or --host, or stop the process that holds it.'],
      })
    }
    throw error
  }
}

async function closeGracefully(app: FastifyInstance, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs)
  })
  const closing = app.close().then(() => 'closed' as const)
  const outcome = await Promise.race([closing, deadline])
  clearTimeout(timer)
  if (outcome === 'timeout') {
    app.log.warn({timeoutMs}, 'shutdown: requests still open after the drain timeout; closing their connections')
    app.server.closeAllConnections()
    await closing
  }
}

/**
 * Resolves with the signal once SIGTERM or SIGINT arrived and the server drained. A second
 * signal during the drain cuts open connections at once.
 */
export function stopOnSignal(server: StartedServer): Promise<NodeJS.Signals> {
  return new Promise((resolve, reject) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        server.app.server.closeAllConnections()
        return
      }
      stopping = true
      server.app.log.info({signal}, 'shutdown: draining connections')
      server.stop().then(
        () => {
          process.off('SIGTERM', onSignal)
          process.off('SIGINT', onSignal)
          resolve(signal)
        },
        (error: unknown) => reject(error),
      )
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}
