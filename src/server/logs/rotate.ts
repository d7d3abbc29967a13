import type {Kysely} from 'kysely'
import {UsageError} from '../../shared/errors.js'
import type {AuditLog} from '../audit/types.js'
import type {Database} from '../db/schema.js'
import {installNewMasterKey, type Keyring, loadKeyring, retireOldKey, unwrapDataKey, wrapDataKey} from './keys.js'

export interface RotationResult {
  previousKeyId: string
  newKeyId: string
  rewrapped: number
  retired: string[]
}

/**
 * Rotates the logs master key: a new key file, then every bundle's (and open upload's) data key
 * is unwrapped with its old key and wrapped with the new one, one row at a time. Bundle files
 * are not touched. Old keys are retired (their `.old` files deleted) only once no row uses them;
 * an interrupted rotation is finished by running it again. Audited as `logs.key.rotated`.
 */
export async function rotateLogsKey(db: Kysely<Database>, audit: AuditLog, masterKeyFile: string, env: NodeJS.ProcessEnv = process.env): Promise<RotationResult> {
  const before = await loadKeyring(masterKeyFile, env)
  if (before.source === 'env') {
    throw new UsageError('the logs master key comes from TETHER_LOGS_MASTER_KEY: unset it to rotate the key file, or manage the env key yourself')
  }
  const fresh = await installNewMasterKey(masterKeyFile, before.current)
  const keyring: Keyring = {current: fresh, byId: new Map([...before.byId, [fresh.id, fresh]]), source: 'file'}
  const now = new Date().toISOString()
  await db.insertInto('logs_keys').values({id: fresh.id, created_at: now, retired_at: null}).onConflict((oc) => oc.column('id').doNothing()).execute()
  const rows = await db.selectFrom('log_uploads').select(['id', 'key_id', 'wrapped_key']).where('key_id', '!=', fresh.id).execute()
  for (const row of rows) {
    const dataKey = unwrapDataKey(keyring, row.key_id, row.wrapped_key, row.id)
    // Guarded by the old wrapping: a concurrent change to the row is not overwritten.
    await db
      .updateTable('log_uploads')
      .set({key_id: fresh.id, wrapped_key: wrapDataKey(fresh, dataKey, row.id)})
      .where('id', '=', row.id)
      .where('wrapped_key', '=', row.wrapped_key)
      .execute()
  }
  const inUse = new Set((await db.selectFrom('log_uploads').select('key_id').distinct().execute()).map((r) => r.key_id))
  const retired: string[] = []
  for (const id of keyring.byId.keys()) {
    if (id === fresh.id || inUse.has(id)) continue
    await retireOldKey(masterKeyFile, id)
    await db
      .insertInto('logs_keys')
      .values({id, created_at: now, retired_at: now})
      .onConflict((oc) => oc.column('id').doUpdateSet({retired_at: now}))
      .execute()
    retired.push(id)
  }
  const result = {previousKeyId: before.current.id, newKeyId: fresh.id, rewrapped: rows.length, retired}
  // Recorded once the rotation is complete; an interrupted one is recorded when it is run again.
  await audit.append({actorType: 'system', actor: 'tether-server-rotate-logs-key', action: 'logs.key.rotated', outcome: 'success', details: {...result}})
  return result
}
