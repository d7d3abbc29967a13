import {mkdir} from 'node:fs/promises'
import fp from 'fastify-plugin'
import {createBlobStore} from '../blobs/registry.js'
import type {OnlinePublicKeys} from '../../protocol/updates/index.js'
import {latestMetadata} from './metadata-store.js'
import {loadOnlineKeys, onlinePublicKeys} from './online-keys.js'
import {isStale, type Resigned, resignOnline} from './online-signing.js'
import {PackageStore} from './package-store.js'
import {Publisher} from './publish.js'
import {findTarget, listTargets, type PublishedTarget, type TargetQuery} from './targets.js'

export interface UpdatesService {
  /** The public online keys (`tether server updates-keys`, GET /updates/online-keys). */
  onlinePublicKeys(): OnlinePublicKeys
  publisher: Publisher
  packages: PackageStore
  /** A live target by version and model (deployments look targets up here); null when none is published. */
  findTarget(query: TargetQuery): Promise<PublishedTarget | null>
  listTargets(): ReturnType<typeof listTargets>
  /** Re-signs timestamp.json (and snapshot.json) when less than half of its lifetime is left. */
  refresh(now?: Date): Promise<Resigned | undefined>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The server's TUF repository: publish, online signing, published targets (src/server/updates, docs/updates.md). */
    updates: UpdatesService
  }
}

/**
 * Software updates on the server: loads (or, for a data dir from before updates, creates and
 * audits) the online snapshot/timestamp keys, and keeps timestamp.json fresh on a timer so that
 * devices never see it expire while the server is up.
 */
export const updatesPlugin = fp(
  async (app) => {
    const settings = app.config.updates
    await mkdir(settings.storageDir, {recursive: true, mode: 0o700})
    const rootPublished = (await latestMetadata(app.db, 'root')) !== undefined
    const {keys, created} = await loadOnlineKeys(settings, rootPublished)
    if (created.length > 0) {
      app.log.info({files: created}, 'updates: created the online snapshot/timestamp keys; every server node needs a copy of these files')
      await app.audit.append({
        actorType: 'system',
        actor: 'tether-server',
        action: 'updates.online-keys.created',
        outcome: 'success',
        details: {files: created, snapshotKeyId: keys.snapshot.keyId, timestampKeyId: keys.timestamp.keyId},
      })
    }
    const packages = new PackageStore(createBlobStore(app.config.storage.blobs, {namespace: 'updates', dir: settings.storageDir, db: app.db, dialect: app.dbDialect}))
    const lifetimes = {snapshotExpirySeconds: settings.snapshotExpirySeconds, timestampExpirySeconds: settings.timestampExpirySeconds}
    const publisher = new Publisher({db: app.db, keys, lifetimes, packages})

    const refresh = (now = new Date()): Promise<Resigned | undefined> =>
      app.audit.transaction(async (trx, record) => {
        const timestamp = await latestMetadata(trx, 'timestamp')
        const snapshot = await latestMetadata(trx, 'snapshot')
        if (!timestamp || !snapshot) return undefined
        const snapshotStale = isStale(snapshot.expires, settings.snapshotExpirySeconds, now)
        if (!snapshotStale && !isStale(timestamp.expires, settings.timestampExpirySeconds, now)) return undefined
        const signed = await resignOnline(trx, keys, lifetimes, {newSnapshot: snapshotStale, now})
        if (signed) record({actorType: 'system', actor: 'tether-server', action: 'updates.timestamp.resigned', outcome: 'success', details: {...signed, previousExpires: timestamp.expires}})
        return signed
      })

    app.decorate('updates', {
      onlinePublicKeys: () => onlinePublicKeys(keys),
      publisher,
      packages,
      findTarget: (query) => findTarget(app.db, query),
      listTargets: () => listTargets(app.db),
      refresh,
    } satisfies UpdatesService)

    let timer: NodeJS.Timeout | undefined
    let running: Promise<void> = Promise.resolve()
    const tick = (): Promise<void> => {
      running = Promise.all([
        refresh().catch((error: unknown) => app.log.warn({err: error}, 'updates: re-signing timestamp.json failed (another node may have done it); retried at the next check')),
        publisher.sweep().catch((error: unknown) => app.log.warn({err: error}, 'updates: sweeping abandoned publishes failed')),
        packages.sweepParts().catch((error: unknown) => app.log.warn({err: error}, 'updates: sweeping abandoned package uploads failed')),
      ]).then(() => undefined)
      return running
    }
    app.addHook('onReady', async () => {
      await tick()
      timer = setInterval(() => void tick(), settings.refreshIntervalSeconds * 1000)
      timer.unref()
    })
    app.addHook('onClose', async () => {
      clearInterval(timer)
      await running
    })
  },
  {name: 'tether-updates', dependencies: ['tether-db', 'tether-audit']},
)
