import {type Kysely, sql} from 'kysely'
import {ConflictError, UsageError} from '../../shared/errors.js'
import {liveNodes} from '../cluster/nodes.js'
import type {OpenedDatabase} from './connect.js'
import type {Database} from './schema.js'

/**
 * Every table, parents before children (foreign keys), and what the copy does with it. A table
 * this list does not name stops the copy before anything is written, so a migration that adds
 * one cannot be silently left behind: add it here.
 * Skipped tables hold only what a running node rebuilds at once (its liveness, its devices'
 * connections, request counters, its live tunnels) and would be stale in the copy anyway.
 */
export const COPY_PLAN: ReadonlyArray<{table: string; copy: boolean}> = [
  ...['customers', 'sites', 'devices', 'users', 'user_scopes', 'api_tokens', 'refresh_tokens', 'login_throttle'].map((table) => ({table, copy: true})),
  ...['audit_events', 'audit_head', 'enrollment_tokens', 'agent_events', 'jobs', 'log_uploads', 'logs_keys'].map((table) => ({table, copy: true})),
  ...['audit_checkpoints', 'audit_witnesses', 'access_requests', 'tuf_metadata', 'update_targets', 'update_publishes'].map((table) => ({table, copy: true})),
  ...['sso_settings', 'sso_identities', 'sso_logins', 'sso_sessions', 'deployments', 'deployment_devices', 'blobs', 'blob_chunks'].map((table) => ({table, copy: true})),
  ...['nodes', 'device_presence', 'rate_limit_hits', 'live_tunnels'].map((table) => ({table, copy: false})),
]

/** Rows per INSERT: far below PostgreSQL's 65,535 parameters for the widest table. */
const BATCH_ROWS = 200

export interface CopyResult {
  tables: Array<{table: string; rows: number}>
  skipped: string[]
  auditHead: {seq: number; hash: string}
}

/**
 * Copies every row of `source` into the empty, migrated `target` in one transaction on the target:
 * either the whole database arrives or nothing does. Values go across as the source returns them
 * (both schemas store the same types: text, integers, blobs), so audit hashes stay valid and
 * `audit verify` on the target walks the same chain to the same head. Refuses while a server
 * node is live on the source (rows written after the snapshot would be lost) and when the target
 * already holds users or audit events (it would mix two installations). `beforeRows` runs once
 * those checks passed (the command copies the blobs there).
 */
export async function copyDatabase(source: OpenedDatabase, target: OpenedDatabase, options: {beforeRows?: () => Promise<void>; now?: number} = {}): Promise<CopyResult> {
  const now = options.now ?? Date.now()
  await refuseWhileRunning(source, now)
  const tables = await tableNames(source)
  const unknown = tables.filter((t) => !COPY_PLAN.some((p) => p.table === t))
  if (unknown.length > 0) throw new UsageError(`this tether does not know how to copy table(s) ${unknown.join(', ')}: use the tether version that created the database`)
  await refuseNonEmpty(target.db)
  // Blobs go first: a copy that fails later leaves an empty database to run it again into.
  await options.beforeRows?.()

  const copied: CopyResult['tables'] = []
  const plan = COPY_PLAN.filter((p) => p.copy && tables.includes(p.table))
  await target.db.transaction().execute(async (trx) => {
    for (const {table} of plan) copied.push({table, rows: await copyTable(source.db, trx, table)})
    if (target.dialect === 'postgres') await resetSequences(trx)
  })
  const head = await sql<{seq: number; hash: string}>`SELECT seq, hash FROM audit_head WHERE id = 1`.execute(target.db)
  const row = head.rows[0]
  return {tables: copied, skipped: COPY_PLAN.filter((p) => !p.copy).map((p) => p.table), auditHead: {seq: Number(row?.seq ?? 0), hash: row?.hash ?? ''}}
}

/** A node live on the source would go on writing rows the copy never sees. */
export async function refuseWhileRunning(source: OpenedDatabase, now = Date.now()): Promise<void> {
  const running = await liveNodes(source.db, now)
  if (running.length > 0) {
    throw new ConflictError(`a server is running on the source database (node ${running.map((n) => n.id).join(', ')}): stop it, then run the copy again`, {details: {nodes: running.map((n) => n.id)}})
  }
}

async function tableNames(opened: OpenedDatabase): Promise<string[]> {
  const tables = await opened.db.introspection.getTables()
  return tables.map((t) => t.name).filter((name) => !name.startsWith('kysely_migration'))
}

async function refuseNonEmpty(db: Kysely<Database>): Promise<void> {
  const users = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  const events = await db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  if (Number(users.n) > 0 || Number(events.n) > 0) {
    throw new ConflictError(`--to: the target database is not empty (${users.n} user(s), ${events.n} audit event(s)); copy into a new, empty database`)
  }
}

/** Pages through the source in its physical order by the table's first column, keyset-free: offsets are fine for a one-off copy of a stopped server. */
async function copyTable(from: Kysely<Database>, to: Kysely<Database>, table: string): Promise<number> {
  let rows = 0
  for (let offset = 0; ; offset += BATCH_ROWS) {
    const page = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)} ORDER BY 1 LIMIT ${BATCH_ROWS} OFFSET ${offset}`.execute(from)
    if (page.rows.length === 0) return rows
    // A migration seeds the audit head (at genesis): the source's own rows replace any such.
    // Only tables the source has rows for: the blobs copied just before stay.
    if (offset === 0) await sql`DELETE FROM ${sql.table(table)}`.execute(to)
    const columns = Object.keys(page.rows[0])
    const values = page.rows.map((r) => sql`(${sql.join(columns.map((c) => r[c]))})`)
    await sql`INSERT INTO ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))}) VALUES ${sql.join(values)}`.execute(to)
    rows += page.rows.length
    if (page.rows.length < BATCH_ROWS) return rows
  }
}

/** Rows came with their ids: move each serial column's sequence past them, or the next insert collides. */
async function resetSequences(trx: Kysely<Database>): Promise<void> {
  const serials = await sql<{table_name: string; column_name: string}>`
    SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'`.execute(trx)
  for (const {table_name: table, column_name: column} of serials.rows) {
    await sql`SELECT setval(pg_get_serial_sequence(${table}, ${column}), GREATEST((SELECT max(${sql.ref(column)}) FROM ${sql.table(table)}), 1), (SELECT count(*) > 0 FROM ${sql.table(table)}))`.execute(trx)
  }
}
