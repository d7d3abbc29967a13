import type {Kysely} from 'kysely'
import type {Scope} from '../auth/principal.js'
import {scopeWhere} from '../auth/scope.js'
import type {Database, Device} from '../db/schema.js'
import {findUserByName, loadScope} from '../users/store.js'

/** Which devices a deployment is for. */
export interface TargetGroup {
  customerId: string
  siteId: string | null
  labels: Record<string, string>
  model: string
  version: string
}

/**
 * Enrolled, unrevoked devices of the group that the deployer may see and that do not already run
 * the version. Scope is applied in SQL, so a device outside it is never even read.
 */
export async function targetDevices(db: Kysely<Database>, scope: Scope, group: TargetGroup): Promise<Device[]> {
  let query = db
    .selectFrom('devices')
    .selectAll()
    .where((eb) => scopeWhere(eb, scope, {customerColumn: 'devices.customer_id', siteColumn: 'devices.site_id'}))
    .where('customer_id', '=', group.customerId)
    .where('model', '=', group.model)
    .where('enrolled_at', 'is not', null)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('software_version', 'is', null), eb('software_version', '!=', group.version)]))
  if (group.siteId !== null) query = query.where('site_id', '=', group.siteId)
  const rows = await query.orderBy('serial').execute()
  // Labels are JSON text on both databases; matching here keeps the SQL portable (as listDevices).
  const wanted = Object.entries(group.labels)
  return rows.filter((d) => {
    const labels = JSON.parse(d.labels) as Record<string, string>
    return wanted.every(([key, value]) => labels[key] === value)
  })
}

/**
 * The deployer's scope as it is now: devices joining the group later are targeted only while
 * the deployer may still see them (a disabled or removed user's deployment picks up nothing new).
 */
export async function currentScopeOf(db: Kysely<Database>, username: string): Promise<Scope> {
  const user = await findUserByName(db, username)
  if (!user || user.disabled_at !== null) return {all: false, entries: []}
  return loadScope(db, user)
}
