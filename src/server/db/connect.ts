import {Kysely, type Migration, type MigrationProvider, Migrator, PostgresDialect, SqliteDialect} from 'kysely'
import {UnavailableError, UsageError} from '../../shared/errors.js'
import * as m001 from './migrations/001-initial.js'
import * as m002 from './migrations/002-audit-head.js'
import * as m003 from './migrations/003-agent.js'
import * as m004 from './migrations/004-jobs-logs.js'
import * as m005 from './migrations/005-audit-anchoring.js'
import * as m006 from './migrations/006-log-bundle-format.js'
import * as m007 from './migrations/007-access-requests.js'
import * as m008 from './migrations/008-updates.js'
import * as m009 from './migrations/009-sso.js'
import * as m010 from './migrations/010-deployments.js'
import * as m011 from './migrations/011-blobs.js'
import * as m012 from './migrations/012-cluster.js'
import * as m013 from './migrations/013-live-tunnels.js'
import type {Database} from './schema.js'

export type DialectName = 'sqlite' | 'postgres'

/** Every migration this binary knows, in order. Add new ones at the end; never edit old ones. */
const MIGRATIONS: Record<string, {up: (db: Kysely<unknown>, dialect: DialectName) => Promise<void>}> = {
  '001-initial': m001,
  '002-audit-head': m002,
  '003-agent': m003,
  '004-jobs-logs': m004,
  '005-audit-anchoring': m005,
  '006-log-bundle-format': m006,
  '007-access-requests': m007,
  '008-updates': m008,
  '009-sso': m009,
  '010-deployments': m010,
  '011-blobs': m011,
  '012-cluster': m012,
  '013-live-tunnels': m013,
}

export interface OpenedDatabase {
  db: Kysely<Database>
  dialect: DialectName
  /** Closes the pool / file handle. */
  close(): Promise<void>
}

/** Without a logger: a lost idle PostgreSQL connection is a process warning. */
export function warnIdleConnectionClosed(error: Error): void {
  process.emitWarning(`PostgreSQL closed an idle connection: ${error.message}`)
}

/**
 * Opens the database named by `url`: `postgres://…` (or `postgresql://…`) for PostgreSQL,
 * `sqlite:PATH` or a plain file path for the embedded SQLite.
 */
export async function openDatabase(url: string, options: {onIdleError?: (error: Error) => void} = {}): Promise<OpenedDatabase> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pg = (await import('pg')).default
    // bigserial/count(*) come back as strings by default; every value we store fits a double.
    pg.types.setTypeParser(20, (v: string) => Number(v))
    const pool = new pg.Pool({connectionString: url, max: 10})
    // PostgreSQL ends idle connections on its own (restart, failover, idle_session_timeout, an
    // administrator). The pool drops such a client and the next query opens a new one; an
    // 'error' nobody listens to would instead take the whole server down. Queries in flight fail
    // by themselves and are answered as the database being unavailable.
    pool.on('error', options.onIdleError ?? warnIdleConnectionClosed)
    const db = new Kysely<Database>({dialect: new PostgresDialect({pool})})
    return {db, dialect: 'postgres', close: () => db.destroy()}
  }
  if (/^[a-z]+:\/\//i.test(url)) {
    throw new UsageError(`--database: "${redact(url)}" is not supported; use postgres://… or a SQLite file path`)
  }
  const path = url.replace(/^sqlite:/, '')
  const {default: SQLite} = await import('better-sqlite3')
  const file = new SQLite(path)
  // WAL lets readers (exports, verify) run beside the writer; busy_timeout rides out short locks.
  file.pragma('journal_mode = WAL')
  file.pragma('busy_timeout = 5000')
  file.pragma('foreign_keys = ON')
  const db = new Kysely<Database>({dialect: new SqliteDialect({database: file})})
  return {db, dialect: 'sqlite', close: () => db.destroy()}
}

/**
 * Brings the schema up to date. A database migrated by a newer Tether (a migration this
 * binary does not know) is refused rather than touched.
 */
export async function migrateToLatest(opened: OpenedDatabase): Promise<string[]> {
  const provider: MigrationProvider = {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {}
      for (const [name, mig] of Object.entries(MIGRATIONS)) out[name] = {up: (db) => mig.up(db, opened.dialect)}
      return out
    },
  }
  const migrator = new Migrator({db: opened.db, provider})
  let executed: string[]
  try {
    executed = await executedMigrations(opened)
  } catch (error) {
    throw new UnavailableError(`database unreachable: ${(error as Error).message}`, {cause: error})
  }
  const unknown = executed.filter((name) => !(name in MIGRATIONS))
  if (unknown.length > 0) {
    throw new UsageError(
      `the database schema is newer than this tether binary (unknown migrations: ${unknown.join(', ')}); upgrade tether before starting the server`,
    )
  }
  const {error, results} = await migrator.migrateToLatest()
  if (error) throw new UnavailableError(`database migration failed: ${(error as Error).message}`, {cause: error})
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

async function executedMigrations(opened: OpenedDatabase): Promise<string[]> {
  const tables = await opened.db.introspection.getTables({withInternalKyselyTables: true})
  if (!tables.some((t) => t.name === 'kysely_migration')) return []
  const db = opened.db as unknown as Kysely<{kysely_migration: {name: string}}>
  const rows = await db.selectFrom('kysely_migration').select('name').execute()
  return rows.map((r) => r.name)
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
}
