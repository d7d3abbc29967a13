import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {issueDeviceDirect, type DirectDevice} from '../../../src/server/enrollment/direct-issue.js'
import {loadCa} from '../../../src/server/pki/ca.js'
import {startServer, type StartedServer} from '../../../src/server/server.js'
import {createTestDatabase, type DbKind, type TestDatabase} from '../helpers/database.js'

export interface HubFixture {
  server: StartedServer
  database: TestDatabase
  serverCaPem: string
  customer: string
  issue(serial: string, options?: {validityDays?: number}): Promise<DirectDevice>
  close(): Promise<void>
}

/** A real HTTPS server on 127.0.0.1:0 with a fresh data dir and database, and a customer. */
export async function startHubFixture(kind: DbKind, env: NodeJS.ProcessEnv = {}, options: {rateLimitPerMinute?: number} = {}): Promise<HubFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tether-hub-'))
  const database = await createTestDatabase(kind)
  let server: StartedServer | undefined
  try {
    server = await startServer({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      database: database.url,
      hostnames: ['localhost', '127.0.0.1'],
      logLevel: 'silent',
      shutdownTimeoutMs: 3000,
      env,
      ...options,
    })
    const started = server
    const customer = 'acme'
    await started.app.db.insertInto('customers').values({id: customer, name: 'Acme', created_at: new Date().toISOString()}).execute()
    const deviceCa = await loadCa(started.config.deviceCa.certFile, started.config.deviceCa.keyFile)
    return {
      server: started,
      database,
      serverCaPem: await readFile(started.config.tls.caFile, 'utf8'),
      customer,
      issue: (serial, options = {}) => issueDeviceDirect(started.app.db, deviceCa, {serial, customer, validityDays: options.validityDays}),
      async close() {
        try {
          await started.stop()
        } finally {
          await database.drop()
          await rm(dataDir, {recursive: true, force: true})
        }
      },
    }
  } catch (error) {
    if (server) await server.stop()
    await database.drop()
    await rm(dataDir, {recursive: true, force: true})
    throw error
  }
}
