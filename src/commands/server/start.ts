import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import {parseDuration} from '../../shared/duration.js'
import {paint} from '../../shared/output.js'
import {databaseFlag, dataDirFlag, hostnameFlag} from '../../server/cli-flags.js'

export interface ServerStartResult {
  url: string
  signal: string
}

export default class ServerStart extends TetherCommand {
  static override description = `Serve the support-center HTTPS API until SIGTERM or SIGINT.

A missing or empty data dir is initialised first with defaults (the generated admin password is printed once). Database migrations run at start; a database migrated by a newer tether is refused. Logs go to stdout: JSON lines, or readable lines when stdout is a terminal. Once listening, the banner goes to stderr:
  tether server listening on https://HOST:PORT (database: sqlite|postgres …)
  CA certificate:   DATA_DIR/tls/ca.crt      (the file \`tether login --ca\` takes)
  CA fingerprint:   SHA-256 AB:CD:…
  Log in with:      tether login --server https://localhost:PORT --ca DATA_DIR/tls/ca.crt`

  static override examples = [
    '<%= config.bin %> server start',
    '<%= config.bin %> server start --data-dir /var/lib/tether --port 443',
    'TETHER_DATABASE_URL=postgres://tether:secret@db.internal/tether <%= config.bin %> server start --data-dir /var/lib/tether',
    '<%= config.bin %> server start --host 127.0.0.1 --port 0 --log-level warn',
    'TETHER_DATABASE_URL=postgres://tether:secret@db.internal/tether <%= config.bin %> server start --node-id node-2 --peer-address 10.0.0.12:8443',
  ]

  static override flags = {
    'data-dir': dataDirFlag,
    host: Flags.string({description: 'Listen address. Default from config.json, else 0.0.0.0.', helpValue: 'ADDR'}),
    port: Flags.integer({description: 'Listen port; 0 picks a free one (read it from the "listening on" line). Default 8443.', min: 0, max: 65535}),
    database: databaseFlag,
    hostname: hostnameFlag,
    'node-id': Flags.string({description: 'This node\'s id among several on one PostgreSQL (unique per node; shown by `tether server nodes`). Default from config.json cluster.nodeId, else the hostname.', helpValue: 'ID'}),
    'peer-address': Flags.string({description: 'HOST:PORT other nodes use to reach this one (tunnels across nodes). Default from config.json cluster.peerAddress, else none (one node).', helpValue: 'HOST:PORT'}),
    'rate-limit': Flags.integer({description: 'Requests per minute per source address and per user (default 300).', min: 1, helpValue: 'N'}),
    'log-level': Flags.string({description: 'Log level of the JSON logs on stdout.', options: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info'}),
    'shutdown-timeout': Flags.string({description: 'How long SIGTERM waits for open requests before closing their connections.', default: '10s', helpValue: 'DURATION'}),
  }

  async run(): Promise<ServerStartResult> {
    const {flags} = await this.parse(ServerStart)
    const shutdownTimeoutMs = parseDuration(flags['shutdown-timeout'], '--shutdown-timeout')
    const {startServer, stopOnSignal} = await import('../../server/server.js')
    const {describeInit} = await import('./init.js')
    const server = await startServer({
      dataDir: flags['data-dir'],
      host: flags.host,
      port: flags.port,
      database: flags.database,
      hostnames: flags.hostname,
      rateLimitPerMinute: flags['rate-limit'],
      nodeId: flags['node-id'],
      peerAddress: flags['peer-address'],
      logLevel: flags['log-level'] as 'info',
      prettyLogs: Boolean(process.stdout.isTTY),
      shutdownTimeoutMs,
    })
    if (server.initialised) this.logToStderr(`Initialised a new data dir.\n${describeInit(server.initialised)}\n`)
    // The one line scripts and tests wait for; its format is documented in docs/operations.md.
    this.logToStderr(`tether server listening on ${server.url} (database: ${server.databaseLabel})`)
    const {listeningBanner, bannerLines} = await import('../../server/banner.js')
    const banner = await listeningBanner(server.config, server.port, server.initialised?.admin.username)
    this.logToStderr(bannerLines(banner).join('\n'))
    const signal = await stopOnSignal(server)
    this.logToStderr(paint('dim', `tether server stopped (${signal})`, process.stderr))
    return {url: server.url, signal}
  }
}
