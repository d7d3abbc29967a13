import {strict as assert} from 'node:assert'
import type {ChildProcess} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import * as OTPAuth from 'otpauth'
import {type RunResult, runTether, startTether, waitForOutput} from '../../helpers/cli.js'
import {createTestDatabase, type DbKind, type TestDatabase} from '../../server/helpers/database.js'

/**
 * A real support center for agent end-to-end tests: `tether server init` + `start` on
 * 127.0.0.1, an admin logged in through the real CLI (password + TOTP), and helpers to create
 * enrollment tokens and call the admin API.
 */
const LISTENING = /tether server listening on (https:\/\/127\.0\.0\.1:(\d+))/
const PASSWORD = 'Correct-Horse-Battery-9'

export function json<T = Record<string, unknown>>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  }
}

export function expectExit(r: RunResult, code: number): RunResult {
  assert.equal(r.code, code, `exit ${r.code}, expected ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r
}

export function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))))
}

export async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exitOf(child)
  clearTimeout(timer)
}

export class SupportCenter {
  url = ''
  port = 0
  caFile = ''
  caFingerprint = ''
  server?: ChildProcess
  private serverLog = ''

  private constructor(
    readonly dir: string,
    readonly env: Record<string, string | undefined>,
    private readonly serverArgs: string[] = [],
    private readonly database?: TestDatabase,
  ) {}

  /** With `database: 'postgres'` the server uses a fresh PostgreSQL database, dropped by dispose(). */
  static async create(options: {env?: Record<string, string | undefined>; serverArgs?: string[]; database?: DbKind; initArgs?: string[]} = {}): Promise<SupportCenter> {
    const dir = await mkdtemp(join(tmpdir(), 'tether-agent-e2e-'))
    const database = options.database === 'postgres' ? await createTestDatabase('postgres') : undefined
    const sc = new SupportCenter(dir, {...options.env, ...(database ? {TETHER_DATABASE_URL: database.url} : {})}, options.serverArgs, database)
    try {
      await writeFile(join(dir, 'admin.pw'), `${PASSWORD}\n`)
      const init = expectExit(await runTether(['server', 'init', '--data-dir', join(dir, 'data'), '--admin-password-file', join(dir, 'admin.pw'), '--json', ...(options.initArgs ?? [])], {env: sc.env}), 0)
      const doc = json<{tls: {caFile: string}; caFingerprint: string}>(init)
      sc.caFile = doc.tls.caFile
      sc.caFingerprint = doc.caFingerprint
    } catch (error) {
      // The caller never gets `sc` to dispose of: clean up here.
      await sc.dispose()
      throw error
    }
    return sc
  }

  /** Starts the server; with `port` on that same port (restart after kill -9). */
  async start(port = 0): Promise<void> {
    this.serverLog = ''
    this.server = startTether(['server', 'start', '--data-dir', join(this.dir, 'data'), '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...this.serverArgs], {env: this.env})
    // Both streams: the banner and errors go to stderr, the JSON log lines (warn and up) to stdout.
    this.server.stderr?.on('data', (d) => (this.serverLog += d))
    this.server.stdout?.on('data', (d) => (this.serverLog += d))
    const line = await waitForOutput(this.server, LISTENING, 30_000)
    const m = LISTENING.exec(line)!
    this.url = m[1]
    this.port = Number(m[2])
  }

  async kill9(): Promise<void> {
    await stopChild(this.server, 'SIGKILL')
  }

  async stop(): Promise<void> {
    await stopChild(this.server)
  }

  get log(): string {
    return this.serverLog
  }

  /** The server's database, for tests that play someone with direct access to it. */
  get databaseUrl(): string {
    return this.database?.url ?? join(this.dir, 'data', 'tether.db')
  }

  /** The admin's CLI environment (own config dir, file credential store). */
  adminEnv(): Record<string, string | undefined> {
    return {...this.env, TETHER_CONFIG_DIR: join(this.dir, 'cfg-admin'), TETHER_CREDENTIAL_STORE: 'file', TETHER_SERVER: undefined, TETHER_TOKEN: undefined, TETHER_CA: undefined}
  }

  admin(args: string[], input?: string): Promise<RunResult> {
    return runTether(args, {env: this.adminEnv(), input})
  }

  /** Logs the admin in (first login enrols TOTP) and creates customer "st-mary". */
  async loginAdmin(): Promise<void> {
    const base = ['login', '--server', this.url, '--ca', this.caFile, '--username', 'admin', '--password-stdin', '--json']
    const first = json<{otpauthUri: string}>(expectExit(await this.admin(base, PASSWORD), 3))
    const totp = (steps: number): string => (OTPAuth.URI.parse(first.otpauthUri) as OTPAuth.TOTP).generate({timestamp: Date.now() + steps * 30_000})
    expectExit(await this.admin([...base, '--totp', totp(0)], PASSWORD), 3)
    expectExit(await this.admin([...base, '--totp', totp(1)], PASSWORD), 0)
    expectExit(await this.admin(['customers', 'add', 'st-mary', '--name', 'St Mary Hospital', '--json']), 0)
  }

  async enrollToken(serial: string, model = 'X200'): Promise<string> {
    const r = expectExit(await this.admin(['devices', 'enroll-token', '--serial', serial, '--model', model, '--customer', 'st-mary', '--ttl', '1h', '--json']), 0)
    return json<{token: string}>(r).token
  }

  async device(serial: string): Promise<Record<string, unknown>> {
    return json(expectExit(await this.admin(['devices', 'show', serial, '--json']), 0))
  }

  async dispose(): Promise<void> {
    await this.stop()
    await rm(this.dir, {recursive: true, force: true})
    await this.database?.drop()
  }

  async readServerFile(name: string): Promise<string> {
    return readFile(join(this.dir, 'data', name), 'utf8')
  }
}

export {eventually} from '../../helpers/eventually.js'
