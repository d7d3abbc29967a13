import type {Kysely} from 'kysely'
import semver from 'semver'
import type {UpdateTargetView} from '../../protocol/api/updates.js'
import type {TargetCustom} from '../../protocol/updates/index.js'
import type {Database} from '../db/schema.js'
import {latestMetadata} from './metadata-store.js'

export interface TargetQuery {
  version: string
  model: string
}

/** What a deployment needs of a live target (h-upd-rollout's lookup). */
export interface PublishedTarget {
  path: string
  version: string
  models: string[]
  length: number
  sha256: string
}

type Row = Awaited<ReturnType<typeof rows>>[number]

function rows(db: Kysely<Database>) {
  return db.selectFrom('update_targets').selectAll().execute()
}

/**
 * The live target signed for this version and model (one version may ship per-model files), or
 * null. Only what the current targets.json lists is in update_targets, so a withdrawn target is
 * never found.
 */
export async function findTarget(db: Kysely<Database>, query: TargetQuery): Promise<PublishedTarget | null> {
  const found = await db.selectFrom('update_targets').selectAll().where('version', '=', query.version).orderBy('path').execute()
  const row = found.find((r) => (JSON.parse(r.models) as string[]).includes(query.model))
  return row ? {path: row.path, version: row.version, models: JSON.parse(row.models) as string[], length: Number(row.length), sha256: row.sha256} : null
}

export async function findTargetByPath(db: Kysely<Database>, path: string): Promise<Row | undefined> {
  return db.selectFrom('update_targets').selectAll().where('path', '=', path).executeTakeFirst()
}

export async function listTargets(db: Kysely<Database>): Promise<{targets: UpdateTargetView[]; rootVersion: number | null; targetsVersion: number | null; targetsExpires: string | null; timestampExpires: string | null}> {
  const all = (await rows(db)).map(targetView).sort((a, b) => semver.rcompare(a.version, b.version) || a.path.localeCompare(b.path))
  const [root, targets, timestamp] = await Promise.all([latestMetadata(db, 'root'), latestMetadata(db, 'targets'), latestMetadata(db, 'timestamp')])
  return {targets: all, rootVersion: root?.version ?? null, targetsVersion: targets?.version ?? null, targetsExpires: targets?.expires ?? null, timestampExpires: timestamp?.expires ?? null}
}

function targetView(row: Row): UpdateTargetView {
  const custom = JSON.parse(row.custom) as TargetCustom
  return {
    path: row.path,
    version: row.version,
    models: JSON.parse(row.models) as string[],
    length: Number(row.length),
    sha256: row.sha256,
    minVersion: custom.minVersion ?? null,
    downgrade: custom.downgrade ?? false,
    targetsVersion: Number(row.targets_version),
    publishedBy: row.published_by,
    publishedAt: row.published_at,
  }
}
