import {randomBytes} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import pg from 'pg'

/** The two databases every server test runs on. TETHER_TEST_DATABASES=sqlite limits the set. */
export type DbKind = 'sqlite' | 'postgres'
export const DB_KINDS: DbKind[] = (process.env.TETHER_TEST_DATABASES ?? 'sqlite,postgres').split(',').map((s) => s.trim()) as DbKind[]

/** The shared server's maintenance database; each test run gets its own database beside it. */
export const PG_ADMIN_URL = process.env.TETHER_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export interface TestDatabase {
  kind: DbKind
  url: string
  /** Drops the database / removes the file; safe to call twice. */
  drop(): Promise<void>
}

/** A fresh, empty database: a temp SQLite file, or a new PostgreSQL database (never shared). */
export async function createTestDatabase(kind: DbKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'tether-db-'))
    return {kind, url: join(dir, 'tether.db'), drop: () => rm(dir, {recursive: true, force: true})}
  }
  const name = `tether_t_${randomBytes(6).toString('hex')}`
  await adminQuery(`CREATE DATABASE ${name}`)
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${name}`
  let dropped = false
  return {
    kind,
    url: url.toString(),
    async drop() {
      if (dropped) return
      dropped = true
      // Without FORCE first: a pool that just ended may still be closing its sockets, and killing
      // them would surface as an uncaught "terminating connection" error in this process.
      try {
        await adminQuery(`DROP DATABASE IF EXISTS ${name}`, 10)
      } catch {
        await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      }
    },
  }
}

/**
 * Runs one statement on the maintenance database. CREATE/DROP DATABASE fail transiently while
 * another test file copies template1 at the same moment, so they are retried a few times.
 */
async function adminQuery(text: string, attempts = 5): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({connectionString: PG_ADMIN_URL})
    try {
      await client.connect()
      await client.query(text)
      return
    } catch (error) {
      if (attempt >= attempts) throw new Error(`${text}: ${(error as Error).message}`, {cause: error})
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt))
    } finally {
      await client.end()
    }
  }
}
