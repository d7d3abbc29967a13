import {OperationFailedError, UsageError} from '../shared/errors.js'
import {AuditChain} from './audit/chain.js'
import {type BlobsCopied, BLOB_FOLDERS, copyBlobs} from './blobs/copy-blobs.js'
import {createBlobStore} from './blobs/registry.js'
import type {ServerConfig} from './config.js'
import {migrateToLatest, type OpenedDatabase, openDatabase} from './db/connect.js'
import {copyDatabase, type CopyResult, refuseWhileRunning} from './db/copy-database.js'

export interface CopyInstallationResult extends CopyResult {
  /** Null when the blobs already were in the source database (storage.blobs "postgres"). */
  blobs: BlobsCopied | null
  verified: {checked: number}
}

/**
 * One node's database (normally the embedded SQLite) and its local blobs, into an empty
 * PostgreSQL that several nodes can then share (docs/operations.md, "From one node to three").
 * The copy is checked by walking the target's audit chain, and recorded at its end.
 */
export async function copyInstallation(config: ServerConfig, source: OpenedDatabase & {url: string}, targetUrl: string, actor: string): Promise<CopyInstallationResult> {
  if (!/^postgres(ql)?:\/\//.test(targetUrl)) throw new UsageError('--to: give the PostgreSQL database to copy into, as postgres://USER@HOST/DATABASE', {details: {field: '--to'}})
  if (targetUrl === source.url) throw new UsageError('--to: that is the database the server already uses; give a new, empty one', {details: {field: '--to'}})
  const target = await openDatabase(targetUrl)
  try {
    await migrateToLatest(source)
    // Before the target is touched at all (even migrated): a running server is the common mistake.
    await refuseWhileRunning(source)
    await migrateToLatest(target)
    let blobs: BlobsCopied | null = null
    const copyLocalBlobs = async (): Promise<void> => {
      if (config.storage.blobs !== 'local') return
      blobs = {blobs: 0, bytes: 0, skipped: 0}
      const dirs: Record<string, string> = {logs: config.logs.storageDir, updates: config.updates.storageDir}
      for (const [namespace, folders] of Object.entries(BLOB_FOLDERS)) {
        const from = createBlobStore('local', {namespace, dir: dirs[namespace], db: source.db, dialect: source.dialect})
        const to = createBlobStore('postgres', {namespace, dir: dirs[namespace], db: target.db, dialect: target.dialect})
        await copyBlobs(from, to, folders, blobs)
      }
    }
    const copied = await copyDatabase(source, target, {beforeRows: copyLocalBlobs})
    const chain = new AuditChain(target.db, target.dialect)
    const verified = await chain.verify()
    if (!verified.ok || verified.head.seq !== copied.auditHead.seq || verified.head.hash !== copied.auditHead.hash) {
      throw new OperationFailedError(`the copy's audit chain does not verify (${verified.problems[0]?.message ?? 'head differs'}); do not use it: drop the target database and run the copy again`)
    }
    const rows = Object.fromEntries(copied.tables.map((t) => [t.table, t.rows]))
    await chain.append({actorType: 'system', actor, action: 'server.database-copied', outcome: 'success', details: {from: source.dialect, rows, blobs, auditHead: copied.auditHead}})
    return {...copied, blobs, verified: {checked: verified.checked}}
  } finally {
    await target.close()
  }
}
