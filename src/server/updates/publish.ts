import {randomUUID} from 'node:crypto'
import type {Readable} from 'node:stream'
import type {BeginPublishRequest, PackageReceived, PublishPlan, PublishResult} from '../../protocol/api/updates.js'
import {ConflictError, NotFoundError, TetherError} from '../../shared/errors.js'
import {parseMetadata, TufMetadataError, type VerifiedRepo, type VerifiedTarget, verifyPublishedRepo} from '../../shared/tuf/index.js'
import type {Database} from '../db/schema.js'
import type {Kysely} from 'kysely'
import {latestMetadata, latestParsed, storeMetadata} from './metadata-store.js'
import {assertRootNamesOnlineKeys, type OnlineKeys} from './online-keys.js'
import {type Lifetimes, resignOnline} from './online-signing.js'
import type {PackageStore} from './package-store.js'

export interface PublishDeps {
  db: Kysely<Database>
  keys: OnlineKeys
  lifetimes: Lifetimes
  packages: PackageStore
}

/** The change and its audit events in one transaction (auditedChange: the request's user and address). */
export type Audited = <T>(work: (trx: Kysely<Database>, record: (input: {action: string; outcome: 'success'; details: Record<string, unknown>}) => void) => Promise<T>) => Promise<T>

/** A publish that is not older than this can still be committed; older ones are swept. */
export const PUBLISH_TTL_MS = 24 * 3600 * 1000

/**
 * The publish path (docs/updates.md, "On the server"). The server trusts the first root it is
 * given (trust on first publish, by a user with updates:publish, audited) and from then on only
 * roots signed by the previous root's threshold and their own (TUF rotation). Every targets.json
 * must be signed by the newest root's targets threshold; every package must match its signed
 * length and hashes. Nothing is served before commit, and commit swaps targets, snapshot and
 * timestamp in one transaction with its audit event.
 */
export class Publisher {
  constructor(private readonly deps: PublishDeps) {}

  async begin(user: string, request: BeginPublishRequest, now = new Date()): Promise<PublishPlan> {
    const {verified, firstPublish} = await this.verify(request.roots, request.targets, now)
    await this.assertPathsUnchanged(verified.targetList)
    const id = randomUUID()
    await this.deps.db
      .insertInto('update_publishes')
      .values({
        id,
        roots: JSON.stringify(verified.newRoots.map((r) => r.toJSON())),
        targets: JSON.stringify(request.targets),
        targets_version: verified.targets.signed.version,
        created_by: user,
        created_at: now.toISOString(),
      })
      .execute()
    const packages = await Promise.all(verified.targetList.map(async (t) => ({path: t.path, length: t.length, sha256: t.hashes.sha256, present: await this.deps.packages.has(t)})))
    return {
      publishId: id,
      firstPublish,
      newRoots: verified.newRoots.map((r) => r.signed.version),
      rootVersion: verified.root.signed.version,
      targetsVersion: verified.targets.signed.version,
      packages,
    }
  }

  async receive(user: string, id: string, path: string, body: Readable): Promise<PackageReceived> {
    const staged = await this.staged(user, id)
    const target = parseMetadata('targets', JSON.parse(staged.targets)).signed.targets[path]
    // The signed targets.json is the only list of what may be uploaded.
    if (!target) throw new TufMetadataError(`targets[${path}]`, 'target-file', 'not a target of the signed targets.json of this publish; sign it with `tether updates add` first')
    const pkg = {path, length: target.length, hashes: {...target.hashes}}
    const {bytes} = await this.deps.packages.receive(pkg, body)
    return {path, bytes, sha256: pkg.hashes.sha256}
  }

  async commit(user: string, id: string, audited: Audited, now = new Date()): Promise<PublishResult> {
    const staged = await this.staged(user, id)
    const roots = JSON.parse(staged.roots) as unknown[]
    const targetsJson = JSON.parse(staged.targets) as unknown
    const missing: string[] = []
    // Re-checked against what is trusted now: another publish may have committed meanwhile.
    const {verified, firstPublish} = await this.verify(roots, targetsJson, now)
    for (const t of verified.targetList) if (!(await this.deps.packages.has(t))) missing.push(t.path)
    if (missing.length > 0) throw new ConflictError(`packages not uploaded yet: ${missing.join(', ')}`, {code: 'PACKAGES_MISSING', details: {missing}})
    await this.assertPathsUnchanged(verified.targetList)

    try {
      return await audited(async (trx, record) => {
        for (const root of verified.newRoots) await storeMetadata(trx, 'root', root, now)
        await storeMetadata(trx, 'targets', verified.targets, now)
        const live = new Set(verified.targetList.map((t) => t.path))
        const before = await trx.selectFrom('update_targets').select('path').execute()
        const known = new Set(before.map((r) => r.path))
        const removed = before.map((r) => r.path).filter((p) => !live.has(p))
        if (removed.length > 0) await trx.deleteFrom('update_targets').where('path', 'in', removed).execute()
        const added = verified.targetList.filter((t) => !known.has(t.path))
        for (const t of added) {
          await trx
            .insertInto('update_targets')
            .values({
              path: t.path,
              version: t.custom.version,
              models: JSON.stringify(t.custom.models),
              length: t.length,
              sha256: t.hashes.sha256,
              custom: JSON.stringify(t.custom),
              targets_version: verified.targets.signed.version,
              blob: this.deps.packages.blobOf(t),
              published_by: staged.created_by,
              published_at: now.toISOString(),
            })
            .execute()
        }
        const signed = await resignOnline(trx, this.deps.keys, this.deps.lifetimes, {newSnapshot: true, now})
        if (!signed) throw new Error('no targets.json after storing one')
        await trx.deleteFrom('update_publishes').where('id', '=', id).execute()
        if (firstPublish) {
          const first = verified.newRoots[0]
          record({action: 'updates.root.trusted', outcome: 'success', details: {version: first.signed.version, rootKeyIds: first.signed.roles.root?.keyIDs ?? [], threshold: first.signed.roles.root?.threshold ?? null, how: 'trust on first publish'}})
        }
        const rotated = verified.newRoots.filter((r) => !firstPublish || r.signed.version > 1).map((r) => r.signed.version)
        if (rotated.length > 0) record({action: 'updates.root.rotated', outcome: 'success', details: {versions: rotated, rootKeyIds: verified.root.signed.roles.root?.keyIDs ?? []}})
        record({
          action: 'updates.published',
          outcome: 'success',
          details: {
            publishId: id,
            rootVersion: verified.root.signed.version,
            targetsVersion: verified.targets.signed.version,
            snapshotVersion: signed.snapshotVersion,
            timestampVersion: signed.timestampVersion,
            added: added.map((t) => ({path: t.path, version: t.custom.version, models: t.custom.models, length: t.length, sha256: t.hashes.sha256})),
            removed,
          },
        })
        return {
          rootVersion: verified.root.signed.version,
          newRoots: verified.newRoots.map((r) => r.signed.version),
          targetsVersion: verified.targets.signed.version,
          snapshotVersion: signed.snapshotVersion,
          timestampVersion: signed.timestampVersion,
          added: added.map((t) => t.path),
          removed,
        }
      })
    } catch (error) {
      // Two publishes of the same targets version: the primary key lets one win.
      const latest = await latestMetadata(this.deps.db, 'targets')
      if (!(error instanceof TetherError) && latest && latest.version >= verified.targets.signed.version) {
        throw new ConflictError(`another publish committed targets.json version ${latest.version} meanwhile; sign a newer one and publish again`, {cause: error})
      }
      throw error
    }
  }

  /** Deletes publishes nobody committed (their uploaded packages stay; they are content-addressed). */
  async sweep(now = new Date()): Promise<number> {
    const result = await this.deps.db.deleteFrom('update_publishes').where('created_at', '<', new Date(now.getTime() - PUBLISH_TTL_MS).toISOString()).executeTakeFirst()
    return Number(result.numDeletedRows)
  }

  private async verify(rootsJson: readonly unknown[], targetsJson: unknown, now: Date): Promise<{verified: VerifiedRepo; firstPublish: boolean}> {
    const trusted = await latestParsed(this.deps.db, 'root')
    let verified: VerifiedRepo
    if (!trusted) {
      // Trust on first publish: the chain must start at 1.root.json, self-signed by its threshold.
      const [first, ...rest] = rootsJson
      if (first === undefined || versionOf(first) !== 1) {
        throw new TufMetadataError('root', 'root-version', "the first publish to this server must include 1.root.json (the repository's metadata/1.root.json)")
      }
      const root1 = parseMetadata('root', first, '1.root.json')
      verified = verifyPublishedRepo({trustedRoot: root1, newRoots: rest, targets: targetsJson, now})
      verified = {...verified, newRoots: [root1, ...verified.newRoots]}
    } else {
      // Roots the server already trusts are skipped (a staged publish's roots may have gone live meanwhile).
      const newer = rootsJson.filter((r) => versionOf(r) > trusted.signed.version)
      const current = await latestMetadata(this.deps.db, 'targets')
      verified = verifyPublishedRepo({trustedRoot: trusted, newRoots: newer, targets: targetsJson, currentTargetsVersion: current?.version, now})
    }
    assertRootNamesOnlineKeys(verified.root.signed, this.deps.keys, `${verified.root.signed.version}.root.json`)
    return {verified, firstPublish: !trusted}
  }

  /** A published path keeps its bytes: devices resume downloads by path, and audits name it. */
  private async assertPathsUnchanged(targets: readonly VerifiedTarget[]): Promise<void> {
    if (targets.length === 0) return
    const rows = await this.deps.db.selectFrom('update_targets').select(['path', 'sha256']).where('path', 'in', targets.map((t) => t.path)).execute()
    const byPath = new Map(rows.map((r) => [r.path, r.sha256]))
    for (const t of targets) {
      const had = byPath.get(t.path)
      if (had !== undefined && had !== t.hashes.sha256) {
        throw new ConflictError(`${t.path} is already published with other bytes (sha256 ${had.slice(0, 12)}…); publish the new package under a new version or file name`, {code: 'TARGET_PATH_TAKEN'})
      }
    }
  }

  private async staged(user: string, id: string) {
    const row = await this.deps.db.selectFrom('update_publishes').selectAll().where('id', '=', id).executeTakeFirst()
    // Another user's publish is invisible, like an out-of-scope object.
    if (!row || row.created_by !== user) throw new NotFoundError(`no publish ${id} in progress (it was committed, or is older than 24 hours): run \`tether updates publish\` again`)
    return row
  }
}

function versionOf(json: unknown): number {
  return Number((json as {signed?: {version?: unknown}} | null)?.signed?.version)
}
