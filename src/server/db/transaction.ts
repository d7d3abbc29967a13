import {type Kysely, sql} from 'kysely'
import type {DialectName} from './connect.js'
import type {Database} from './schema.js'

/**
 * Handles inside a write transaction begun by writeTransaction. Kysely marks its own Transaction
 * objects (isTransaction), but the SQLite path runs on a single-connection handle that Kysely does
 * not know to be in a transaction, so we remember those here.
 */
const openWrites = new WeakSet<object>()

export function isInTransaction(db: Kysely<Database>): boolean {
  return db.isTransaction || openWrites.has(db)
}

/**
 * Runs fn inside a transaction, or directly on db when db already is one: services that need
 * several statements to land together call this, and then compose into a caller's transaction
 * (an audited change) instead of opening a nested one, which neither engine allows.
 */
export function inTransaction<T>(db: Kysely<Database>, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return isInTransaction(db) ? fn(db) : db.transaction().execute(fn)
}

/**
 * A write transaction that takes the write lock before its first read. On SQLite that is
 * BEGIN IMMEDIATE: Kysely's transactions BEGIN DEFERRED, and two processes could then both read
 * and one would fail to upgrade. On PostgreSQL an ordinary transaction; callers that must
 * serialise take their advisory lock inside it.
 */
export async function writeTransaction<T>(db: Kysely<Database>, dialect: DialectName, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  if (isInTransaction(db)) return fn(db)
  if (dialect === 'postgres') return db.transaction().execute(fn)
  return db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn)
    openWrites.add(conn)
    try {
      const result = await fn(conn)
      await sql`commit`.execute(conn)
      return result
    } catch (error) {
      await sql`rollback`.execute(conn).catch((rollbackError: Error) => {
        // SQLite may already have rolled back after the failed statement; anything else is news.
        if (!/no transaction is active/i.test(rollbackError.message)) throw rollbackError
      })
      throw error
    } finally {
      openWrites.delete(conn)
    }
  })
}
