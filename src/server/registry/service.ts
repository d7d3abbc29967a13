import type {Kysely} from 'kysely'
import type {z} from 'zod'
import type {CreateCustomerRequest, CreateDeviceRequest, CreateSiteRequest, DeviceView} from '../../protocol/api/registry.js'
import {ConflictError, NotFoundError} from '../../shared/errors.js'
import type {Customer, Database, Device, Site} from '../db/schema.js'
import type {Scope} from '../auth/principal.js'
import {fieldError} from '../auth/request-context.js'
import {customerVisible, inScope, scopeWhere} from '../auth/scope.js'
import {nowIso} from '../users/store.js'

/**
 * Customers, sites and devices. Every read is filtered by the caller's scope (scope.ts) and an
 * object outside it behaves exactly like a missing one.
 */
type Db = Kysely<Database>

export function customerView(c: Customer): {id: string; name: string; createdAt: string} {
  return {id: c.id, name: c.name, createdAt: c.created_at}
}

export function siteView(s: Site): {id: string; customer: string; name: string; createdAt: string} {
  return {id: s.id, customer: s.customer_id, name: s.name, createdAt: s.created_at}
}

/** A connected device's live state (src/server/cluster/device-online.ts); null when offline everywhere. */
export interface LivePresence {
  online: boolean
  /** Null: take the stored one. */
  lastSeenAt: string | null
  /** Null: take the stored one. */
  inventory: unknown
}

/**
 * `online` comes from presence across nodes (cluster/device-online.ts, one function for every
 * route); for a device connected to this node, last-seen and inventory come from the hub, else
 * from the database.
 */
export function deviceView(d: Device, live: LivePresence | null = null): DeviceView {
  return {
    serial: d.serial,
    model: d.model,
    customer: d.customer_id,
    site: d.site_id,
    labels: JSON.parse(d.labels) as Record<string, string>,
    createdAt: d.created_at,
    enrolledAt: d.enrolled_at,
    revokedAt: d.revoked_at,
    online: live?.online ?? false,
    lastSeenAt: live?.lastSeenAt ?? d.last_seen_at,
    inventory: live?.inventory ? (live.inventory as Record<string, unknown>) : d.inventory === null ? null : (JSON.parse(d.inventory) as Record<string, unknown>),
    eventsRefused: d.events_refused,
  }
}

export async function listCustomers(db: Db, scope: Scope): Promise<Customer[]> {
  const rows = await db.selectFrom('customers').selectAll().orderBy('id').execute()
  return rows.filter((c) => customerVisible(scope, c.id))
}

export async function createCustomer(db: Db, input: z.infer<typeof CreateCustomerRequest>): Promise<Customer> {
  const clash = await db.selectFrom('customers').select(['id', 'name']).where((eb) => eb.or([eb('id', '=', input.id), eb('name', '=', input.name)])).executeTakeFirst()
  if (clash) throw new ConflictError(clash.id === input.id ? `customer "${input.id}" already exists` : `a customer named "${input.name}" already exists`)
  const row: Customer = {id: input.id, name: input.name, created_at: nowIso()}
  await db.insertInto('customers').values(row).execute()
  return row
}

/** A customer referenced by a request body: missing and out-of-scope read the same (400 on the field). */
async function referencedCustomer(db: Db, scope: Scope, id: string, field: string): Promise<Customer> {
  const customer = await db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst()
  if (!customer || !customerVisible(scope, id)) throw fieldError(field, `no customer "${id}"`)
  return customer
}

export async function listSites(db: Db, scope: Scope, customer?: string): Promise<Site[]> {
  let query = db
    .selectFrom('sites')
    .selectAll()
    .where((eb) => scopeWhere(eb, scope, {customerColumn: 'sites.customer_id', siteColumn: 'sites.id'}))
  if (customer !== undefined) query = query.where('customer_id', '=', customer)
  return query.orderBy('customer_id').orderBy('id').execute()
}

export async function createSite(db: Db, scope: Scope, input: z.infer<typeof CreateSiteRequest>): Promise<Site> {
  await referencedCustomer(db, scope, input.customer, 'body.customer')
  const existing = await db.selectFrom('sites').select(['id', 'customer_id']).where((eb) => eb.or([eb('id', '=', input.id), eb.and([eb('customer_id', '=', input.customer), eb('name', '=', input.name)])])).executeTakeFirst()
  if (existing) throw new ConflictError(existing.id === input.id ? `site "${input.id}" already exists` : `customer "${input.customer}" already has a site named "${input.name}"`)
  const row: Site = {id: input.id, customer_id: input.customer, name: input.name, created_at: nowIso()}
  await db.insertInto('sites').values(row).execute()
  return row
}

export async function listDevices(db: Db, scope: Scope, filter: {customer?: string; site?: string; label?: string}): Promise<Device[]> {
  let query = db
    .selectFrom('devices')
    .selectAll()
    .where((eb) => scopeWhere(eb, scope, {customerColumn: 'devices.customer_id', siteColumn: 'devices.site_id'}))
  if (filter.customer !== undefined) query = query.where('customer_id', '=', filter.customer)
  if (filter.site !== undefined) query = query.where('site_id', '=', filter.site)
  const rows = await query.orderBy('serial').execute()
  if (filter.label === undefined) return rows
  // Labels are JSON text on both databases; matching here keeps the SQL portable.
  const at = filter.label.indexOf('=')
  const [key, value] = [filter.label.slice(0, at), filter.label.slice(at + 1)]
  return rows.filter((d) => (JSON.parse(d.labels) as Record<string, string>)[key] === value)
}

export async function getDevice(db: Db, scope: Scope, serial: string): Promise<Device> {
  const device = await db.selectFrom('devices').selectAll().where('serial', '=', serial).executeTakeFirst()
  if (!device || !inScope(scope, device.customer_id, device.site_id)) throw new NotFoundError(`no device "${serial}"`)
  return device
}

export async function createDevice(db: Db, scope: Scope, input: z.infer<typeof CreateDeviceRequest>): Promise<Device> {
  await referencedCustomer(db, scope, input.customer, 'body.customer')
  const siteId = input.site ?? null
  if (siteId !== null) {
    const site = await db.selectFrom('sites').select('customer_id').where('id', '=', siteId).executeTakeFirst()
    if (!site || site.customer_id !== input.customer) throw fieldError('body.site', `no site "${siteId}" of customer "${input.customer}"`)
  }
  if (!inScope(scope, input.customer, siteId)) throw fieldError(siteId === null ? 'body.customer' : 'body.site', 'outside your scope')
  const exists = await db.selectFrom('devices').select('serial').where('serial', '=', input.serial).executeTakeFirst()
  if (exists) throw new ConflictError(`device "${input.serial}" already exists`)
  const row: Omit<Device, 'events_refused'> = {
    serial: input.serial,
    model: input.model,
    customer_id: input.customer,
    site_id: siteId,
    labels: JSON.stringify(input.labels ?? {}),
    created_at: nowIso(),
    enrolled_at: null,
    revoked_at: null,
    cert_fingerprint: null,
    last_seen_at: null,
    inventory: null,
  }
  await db.insertInto('devices').values(row).execute()
  return {...row, events_refused: 0}
}
