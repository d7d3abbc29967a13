import {strict as assert} from 'node:assert'
import {sql} from 'kysely'
import pg from 'pg'
import {openDatabase, type OpenedDatabase} from '../../../src/server/db/connect.js'
import {createTestDatabase, DB_KINDS, PG_ADMIN_URL, type TestDatabase} from '../helpers/database.js'

/**
 * PostgreSQL ends idle connections on its own (a restart, a failover, idle_session_timeout, an
 * administrator). The pool must drop such a connection and carry on: an idle client's error with
 * nobody listening would take the whole server process down.
 */
;(DB_KINDS.includes('postgres') ? describe : describe.skip)('PostgreSQL connections ended by the server', function () {
  this.timeout(30_000)
  let database: TestDatabase
  let opened: OpenedDatabase

  before(async () => {
    database = await createTestDatabase('postgres')
    opened = await openDatabase(database.url)
  })

  after(async () => {
    await opened?.close()
    await database?.drop()
  })

  it('an idle connection terminated by the server neither crashes the process nor fails the next query', async () => {
    const uncaught: Error[] = []
    const onUncaught = (error: Error): void => void uncaught.push(error)
    // Mocha's own handler would fail the test too; this one records what would have crashed a server.
    process.prependListener('uncaughtException', onUncaught)
    try {
      // Three idle connections in the pool.
      await Promise.all([1, 2, 3].map(() => sql`SELECT pg_sleep(0.05)`.execute(opened.db)))
      const name = new URL(database.url).pathname.slice(1)
      const admin = new pg.Client({connectionString: PG_ADMIN_URL})
      await admin.connect()
      try {
        const ended = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name])
        assert.ok(ended.rowCount! >= 1, 'the pool had idle connections to end')
      } finally {
        await admin.end()
      }
      await new Promise((resolve) => setTimeout(resolve, 200))
      const row = await sql<{one: number}>`SELECT 1 AS one`.execute(opened.db)
      assert.equal(row.rows[0].one, 1)
      assert.deepEqual(uncaught.map((e) => e.message), [])
    } finally {
      process.removeListener('uncaughtException', onUncaught)
    }
  })
})
