import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import type {FastifyInstance, LightMyRequestResponse} from 'fastify'
import type {Kysely} from 'kysely'
import {Secret, TOTP} from 'otpauth'
import type {TokenPair} from '../../../src/protocol/api/auth.js'
import {API_PREFIX, type Scope as ScopeView} from '../../../src/protocol/api/common.js'
import {buildApp} from '../../../src/server/app.js'
import {generateJwtSecret} from '../../../src/server/auth/jwt.js'
import type {ServerConfig} from '../../../src/server/config.js'
import {defaultServerConfig} from '../../../src/server/config-defaults.js'
import {migrateToLatest, openDatabase} from '../../../src/server/db/connect.js'
import type {AuditEventRow, Database, Role} from '../../../src/server/db/schema.js'
import {getUser, insertUser, prepareUser} from '../../../src/server/users/service.js'
import {createTestDatabase, type DbKind, type TestDatabase} from './database.js'

export interface TestApp {
  app: FastifyInstance
  config: ServerConfig
  database: TestDatabase
  close(): Promise<void>
}

export interface TestAppOptions {
  /** Patch the default config (auth settings etc.). */
  config?: (config: ServerConfig) => void
  /** Runs on the migrated database before the app starts: rows an older tether left behind. */
  beforeStart?: (db: Kysely<Database>) => Promise<void>
  /** A database shared with another test app (a second node); the caller drops it. */
  database?: TestDatabase
  /** Where the app's JSON log lines go (default: no logs). */
  log?: {level: string; stream: {write(line: string): void}}
}

/**
 * The server as buildApp assembles it, on a fresh database of the given kind, for app.inject().
 * The JWT secret is written to the configured file like `server init` does; the MFA key is
 * created at start, as for a data dir from before sealed TOTP secrets.
 */
export async function buildTestApp(kind: DbKind, options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tether-srv-'))
  const database = options.database ?? (await createTestDatabase(kind))
  const config = defaultServerConfig(dataDir)
  config.database = database.url
  // Tests fire many requests from 127.0.0.1; the per-address limit is tested by the platform.
  config.limits.rateLimitPerMinute = 100_000
  options.config?.(config)
  await mkdir(dirname(config.auth.jwtSecretFile), {recursive: true})
  await writeFile(config.auth.jwtSecretFile, generateJwtSecret(), {mode: 0o600})
  const cleanup = async () => {
    try {
      if (!options.database) await database.drop()
    } finally {
      await rm(dataDir, {recursive: true, force: true})
    }
  }
  try {
    const opened = await openDatabase(database.url)
    await migrateToLatest(opened)
    await options.beforeStart?.(opened.db)
    const app = await buildApp({config, database: opened, fastify: {logger: options.log ?? false}})
    await app.ready()
    return {
      app,
      config,
      database,
      async close() {
        try {
          await app.close()
        } finally {
          await cleanup()
        }
      },
    }
  } catch (error) {
    await cleanup()
    throw error
  }
}

/** Audit events recorded so far (the real hash-chained log), optionally of one action. */
export async function auditEvents(app: FastifyInstance, action?: string): Promise<AuditEventRow[]> {
  let query = app.db.selectFrom('audit_events').selectAll().orderBy('seq')
  if (action !== undefined) query = query.where('action', '=', action)
  return query.execute()
}

export interface SeededUser {
  id: string
  username: string
  password: string
  role: Role
  /** Base32 TOTP secret when MFA is on. */
  totpSecret?: string
}

/** Known secret per username so tests can compute codes. */
export function totpCode(user: Pick<SeededUser, 'username' | 'totpSecret'>, offsetPeriods = 0): string {
  if (!user.totpSecret) throw new Error(`${user.username} has no MFA`)
  const totp = new TOTP({issuer: 'Tether', label: user.username, algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(user.totpSecret)})
  return totp.generate({timestamp: Date.now() + offsetPeriods * 30_000})
}

/** A user straight in the database; MFA on by default (as every device-reaching role needs). */
export async function seedUser(
  app: FastifyInstance,
  input: {username: string; role: Role; scope?: ScopeView; mfa?: boolean; password?: string},
): Promise<SeededUser> {
  const password = input.password ?? `Pw-${input.username}-0123456789`
  const user = await insertUser(app.db, await prepareUser({username: input.username, role: input.role, password, scope: input.scope}))
  let totpSecret: string | undefined
  if (input.mfa ?? true) {
    totpSecret = new Secret({size: 20}).base32
    await app.db.updateTable('users').set({mfa_secret: app.mfaSecrets.seal(user.id, totpSecret), mfa_enabled: 1}).where('id', '=', user.id).execute()
  }
  return {id: user.id, username: user.username, password, role: input.role, totpSecret}
}

/** A session without going through /auth/login (which is throttled and consumes TOTP codes). */
export async function sessionFor(app: FastifyInstance, username: string): Promise<TokenPair> {
  return app.sessions.issueTokenPair(await getUser(app.db, username))
}

export interface CallOptions {
  token?: string
  body?: unknown
  query?: Record<string, string>
  ip?: string
  headers?: Record<string, string>
}

/** app.inject under /api/v1 with an optional bearer token. */
export async function call(app: FastifyInstance, method: string, path: string, options: CallOptions = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = {...options.headers}
  if (options.token) headers.authorization = `Bearer ${options.token}`
  return app.inject({
    method: method as 'GET',
    url: `${API_PREFIX}${path}`,
    headers,
    query: options.query,
    remoteAddress: options.ip,
    ...(options.body === undefined ? {} : {payload: options.body as object}),
  })
}
