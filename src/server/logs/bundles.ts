import type {Kysely} from 'kysely'
import type {LogBundleView} from '../../protocol/api/logs.js'
import {NotFoundError} from '../../shared/errors.js'
import type {AuditLog} from '../audit/types.js'
import type {Scope} from '../auth/principal.js'
import type {BlobStore} from '../blobs/blob-store.js'
import {inScope, scopeWhere} from '../auth/scope.js'
import type {Database, LogUpload} from '../db/schema.js'
import {decryptBlob} from './bundle-reader.js'
import {type Keyring, unwrapDataKey} from './keys.js'

type Db = Kysely<Database>

function numeric(row: LogUpload): LogUpload {
  return {...row, size: Number(row.size), committed: Number(row.committed)}
}

export function bundleView(row: LogUpload): LogBundleView {
  return {
    id: row.id,
    serial: row.serial,
    customer: row.customer_id,
    size: Number(row.size),
    sha256: row.sha256,
    format: row.format === 'tar.zst' ? 'tar.zst' : 'tar.gz',
    region: row.region,
    createdAt: row.completed_at ?? row.created_at,
    initiator: row.initiator,
    requestedBy: row.requested_by,
    jobId: row.job_id,
    since: row.since,
  }
}

export async function listBundles(db: Db, scope: Scope, query: {device?: string; limit?: number}): Promise<LogUpload[]> {
  let q = db
    .selectFrom('log_uploads')
    .innerJoin('devices', 'devices.serial', 'log_uploads.serial')
    .selectAll('log_uploads')
    .where('log_uploads.status', '=', 'complete')
    .where((eb) => scopeWhere(eb, scope, {customerColumn: 'devices.customer_id', siteColumn: 'devices.site_id'}))
  if (query.device) q = q.where('log_uploads.serial', '=', query.device)
  const rows = await q.orderBy('log_uploads.completed_at', 'desc').limit(query.limit ?? 100).execute()
  return rows.map(numeric)
}

/** ID, or a device serial: that device's newest bundle. 404 when missing or out of scope. */
export async function findBundle(db: Db, scope: Scope, idOrSerial: string): Promise<LogUpload> {
  const byId = await db
    .selectFrom('log_uploads')
    .innerJoin('devices', 'devices.serial', 'log_uploads.serial')
    .selectAll('log_uploads')
    .select(['devices.site_id as site_id'])
    .where('log_uploads.id', '=', idOrSerial)
    .where('log_uploads.status', '=', 'complete')
    .executeTakeFirst()
  if (byId && inScope(scope, byId.customer_id, byId.site_id)) {
    const {site_id: _site, ...row} = byId
    return numeric(row)
  }
  const [newest] = await listBundles(db, scope, {device: idOrSerial, limit: 1})
  if (!newest) throw new NotFoundError(`no log bundle "${idOrSerial}" (neither a bundle id nor a device with bundles)`)
  return newest
}

/** Plaintext of a bundle, verified segment by segment (bundle-reader.ts). */
export function readBundle(blobs: BlobStore, keyring: Keyring, row: LogUpload): AsyncGenerator<Buffer> {
  const key = unwrapDataKey(keyring, row.key_id, row.wrapped_key, row.id)
  return decryptBlob(blobs, row.file, key, Number(row.size))
}

export interface RetentionResult {
  deleted: number
  staleUploads: number
}

/** Open uploads untouched this long are dropped (the agent starts again). */
export const STALE_UPLOAD_MS = 7 * 86_400_000

/**
 * Deletes bundles older than retentionDays (each audited `logs.bundle.deleted`, reason
 * retention) and open uploads idle for STALE_UPLOAD_MS. The blob goes first: a crash in
 * between leaves a row whose download fails (and is retried here), never an orphan secret.
 */
export async function sweepRetention(db: Db, audit: AuditLog, blobs: BlobStore, retentionDays: number, now = Date.now()): Promise<RetentionResult> {
  const cutoff = new Date(now - retentionDays * 86_400_000).toISOString()
  const old = await db.selectFrom('log_uploads').selectAll().where('status', '=', 'complete').where('completed_at', '<', cutoff).execute()
  for (const row of old) {
    await blobs.delete(row.file)
    await audit.transaction(async (trx, record) => {
      await trx.deleteFrom('log_uploads').where('id', '=', row.id).execute()
      record({
        actorType: 'system',
        actor: 'retention',
        action: 'logs.bundle.deleted',
        outcome: 'success',
        deviceSerial: row.serial,
        customerId: row.customer_id,
        details: {bundleId: row.id, reason: 'retention', retentionDays, createdAt: row.completed_at, size: Number(row.size), region: row.region},
      })
    })
  }
  const staleCutoff = new Date(now - STALE_UPLOAD_MS).toISOString()
  const stale = await db.selectFrom('log_uploads').selectAll().where('status', '=', 'open').where('updated_at', '<', staleCutoff).execute()
  for (const row of stale) {
    await blobs.delete(row.file)
    await db.deleteFrom('log_uploads').where('id', '=', row.id).execute()
  }
  return {deleted: old.length, staleUploads: stale.length}
}
