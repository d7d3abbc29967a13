import {mkdir} from 'node:fs/promises'
import fp from 'fastify-plugin'
import type {BlobStore} from '../blobs/blob-store.js'
import {createBlobStore} from '../blobs/registry.js'
import {type Keyring, loadKeyring} from './keys.js'
import {sweepRetention} from './bundles.js'
import {type LogsSettings, UploadStore} from './upload-store.js'

const RETENTION_SWEEP_MS = 3_600_000

export interface LogsService {
  settings: LogsSettings
  /** Sealed bundles (`bundles/<id>.tlb`) and uploads in progress (`uploads/<id>.tlb`). */
  blobs: BlobStore
  uploads: UploadStore
  /**
   * The master keys, read from disk/env on each call (a few hundred bytes): a key rotated by
   * `tether server rotate-logs-key` while the server runs is used from the next upload on.
   */
  keyring(): Promise<Keyring>
  sweep(now?: number): ReturnType<typeof sweepRetention>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Encrypted log bundle storage (src/server/logs, docs/logs.md). */
    logs: LogsService
  }
}

export const logsPlugin = fp(
  async (app) => {
    const {storageDir, region, retentionDays, masterKeyFile} = app.config.logs
    const settings = {region, retentionDays}
    const blobs = createBlobStore(app.config.storage.blobs, {namespace: 'logs', dir: storageDir, db: app.db, dialect: app.dbDialect})
    // Made even for PostgreSQL blobs: an operator switching back finds the directory as expected.
    await mkdir(storageDir, {recursive: true, mode: 0o700})
    // Created (0600) now rather than at the first upload: a missing key is noticed at start.
    await loadKeyring(masterKeyFile)
    const keyring = () => loadKeyring(masterKeyFile)
    const service: LogsService = {
      settings,
      blobs,
      uploads: new UploadStore(app.db, keyring, blobs, settings),
      keyring,
      sweep: (now) => sweepRetention(app.db, app.audit, blobs, retentionDays, now),
    }
    app.decorate('logs', service)
    let timer: NodeJS.Timeout | undefined
    app.addHook('onReady', async () => {
      const run = () =>
        service.sweep().catch((error: unknown) => app.log.error({err: error}, 'logs: retention sweep failed; retried next hour'))
      void run()
      timer = setInterval(run, RETENTION_SWEEP_MS)
      timer.unref()
    })
    app.addHook('onClose', async () => clearInterval(timer))
  },
  {name: 'tether-logs', dependencies: ['tether-db', 'tether-audit']},
)
