import {z} from 'zod'
import {Slug, Timestamp} from './common.js'

export const CustomerView = z.strictObject({id: Slug, name: z.string(), createdAt: Timestamp})
export const CustomerList = z.strictObject({customers: z.array(CustomerView)})
// POST /customers (customers:manage)
export const CreateCustomerRequest = z.strictObject({id: Slug, name: z.string().min(1).max(200)})

export const SiteView = z.strictObject({id: Slug, customer: Slug, name: z.string(), createdAt: Timestamp})
export const SiteList = z.strictObject({sites: z.array(SiteView)})
// GET /sites?customer=
export const SiteQuery = z.strictObject({customer: Slug.optional()})
// POST /sites (customers:manage). Site ids are global slugs, e.g. "st-mary-icu".
export const CreateSiteRequest = z.strictObject({id: Slug, customer: Slug, name: z.string().min(1).max(200)})

export const Labels = z.record(z.string().regex(/^[a-zA-Z0-9._/-]{1,63}$/), z.string().max(255))

export const DeviceView = z.strictObject({
  serial: z.string(),
  model: z.string(),
  customer: Slug,
  site: Slug.nullable(),
  labels: Labels,
  createdAt: Timestamp,
  enrolledAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
  online: z.boolean(),
  lastSeenAt: Timestamp.nullable(),
  inventory: z.record(z.string(), z.unknown()).nullable(),
  /** Events the device sent that the device-event registry refused (src/protocol/agent/device-events.ts). */
  eventsRefused: z.number().int().nonnegative(),
  /** The software version the device reports as installed by an update (null: none yet; absent: an older server). */
  softwareVersion: z.string().nullable().optional(),
})
export type DeviceView = z.infer<typeof DeviceView>
export const DeviceList = z.strictObject({devices: z.array(DeviceView)})
// GET /devices?customer=&site=&label=k=v  (filtered by the caller's scope)
export const DeviceQuery = z.strictObject({
  customer: Slug.optional(),
  site: Slug.optional(),
  /** "key=value": devices whose label key has exactly that value. */
  label: z.string().regex(/^[a-zA-Z0-9._/-]{1,63}=.{0,255}$/, 'key=value').optional(),
})
// POST /devices (devices:manage): register a device before enrollment
export const CreateDeviceRequest = z.strictObject({
  serial: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, '1-128 letters, digits, or . _ -'),
  model: z.string().min(1).max(128),
  customer: Slug,
  site: Slug.optional(),
  labels: Labels.optional(),
})
// GET /devices/:serial -> DeviceView (404 when missing or out of scope)
