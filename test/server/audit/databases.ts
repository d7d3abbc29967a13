import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {randomBytes} from 'node:crypto'
import pg from 'pg'
import {type DialectName, type OpenedDatabase, migrateToLatest, openDatabase} from '../../../src/server/db/connect.js'

export const DIALECTS: DialectName[] = ['sqlite', 'postgres']
/** The PostgreSQL every test run borrows: each run creates (and drops) its own database there. */
export const PG_ADMIN_URL = process.env.TETHER_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test'

export interface TestDatabase {
  url: string
  opened: OpenedDatabase
  /** Closes the handle, drops the database / removes the temp dir. */
  cleanup(): Promise<void>
}

/** A fresh, migrated database of the dialect, isolated from every other test file. */
export async function freshDatabase(dialect: DialectName): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tether-audit-'))
    const url = join(dir, 'tether.db')
    const opened = await openDatabase(url)
    await migrateToLatest(opened)
    return {
      url,
      opened,
      async cleanup() {
        await opened.close()
        rmSync(dir, {recursive: true, force: true})
      },
    }
  }
  const name = `tether_audit_${randomBytes(6).toString('hex')}`
  await adminQuery(`CREATE DATABASE ${name}`)
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`)
  const opened = await openDatabase(url)
  try {
    await migrateToLatest(opened)
  } catch (error) {
    await opened.close()
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    throw error
  }
  return {
    url,
    opened,
    async cleanup() {
      await opened.close()
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    },
  }
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({connectionString: PG_ADMIN_URL})
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}
