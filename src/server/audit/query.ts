import {type Expression, type ExpressionBuilder, type SqlBool, sql} from 'kysely'
import {UsageError} from '../../shared/errors.js'
import type {Scope} from '../auth/principal.js'
import type {AuditDatabase} from './tables.js'

/**
 * What list and export select. since is inclusive, until exclusive (both ISO-8601, normalised
 * to UTC milliseconds); action ending in "*" is a prefix ("auth.*"). A scoped principal's
 * scope limits rows to its customers (and, for site entries, to devices of those sites);
 * events without a customer (user management, logins, system) are not shown to scoped users.
 */
export interface AuditFilter {
  since?: string
  until?: string
  user?: string
  device?: string
  action?: string
  scope?: Scope
}

export interface AuditQueryInput {
  since?: string
  until?: string
  user?: string
  device?: string
  action?: string
}

/** Validates and normalises the query fields; a UsageError names the field (details.field). */
export function normalizeFilter(query: AuditQueryInput, scope?: Scope): AuditFilter {
  const filter: AuditFilter = {scope}
  if (query.since !== undefined) filter.since = parseTime(query.since, 'since')
  if (query.until !== undefined) filter.until = parseTime(query.until, 'until')
  if (filter.since && filter.until && filter.since >= filter.until) {
    throw new UsageError('until: must be later than since', {details: {field: 'until'}})
  }
  for (const key of ['user', 'device', 'action'] as const) {
    const value = query[key]
    if (value === undefined) continue
    if (value === '' || value === '*') throw new UsageError(`${key}: must not be empty`, {details: {field: key}})
    filter[key] = value
  }
  return filter
}

function parseTime(value: string, field: string): string {
  // Plain dates mean midnight UTC; anything else must carry its offset or Z.
  const ok = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(value)
  const ms = ok ? Date.parse(value) : Number.NaN
  if (Number.isNaN(ms)) throw new UsageError(`${field}: "${value}" is not an ISO-8601 time (e.g. 2026-11-01 or 2026-11-01T08:00:00Z)`, {details: {field}})
  return new Date(ms).toISOString()
}

type Eb = ExpressionBuilder<AuditDatabase, 'audit_events'>

/** The WHERE conditions of a filter (AND-ed by the caller). */
export function filterConditions(eb: Eb, filter: AuditFilter): Expression<SqlBool>[] {
  const out: Expression<SqlBool>[] = []
  if (filter.since) out.push(eb('time', '>=', filter.since))
  if (filter.until) out.push(eb('time', '<', filter.until))
  if (filter.user) out.push(eb('actor', '=', filter.user))
  if (filter.device) out.push(eb('device_serial', '=', filter.device))
  if (filter.action?.endsWith('*')) {
    const prefix = filter.action.slice(0, -1)
    // substr, not LIKE: LIKE is case-insensitive on SQLite and treats _ and % specially.
    out.push(eb(eb.fn<string>('substr', ['action', eb.lit(1), eb.lit(prefix.length)]), '=', prefix))
  } else if (filter.action) {
    out.push(eb('action', '=', filter.action))
  }
  if (filter.scope && !filter.scope.all) out.push(scopeCondition(eb, filter.scope))
  return out
}

function scopeCondition(eb: Eb, scope: Scope): Expression<SqlBool> {
  const customers = scope.entries.filter((e) => e.siteId === null).map((e) => e.customerId)
  const any: Expression<SqlBool>[] = []
  if (customers.length > 0) any.push(eb('customer_id', 'in', customers))
  for (const entry of scope.entries) {
    if (entry.siteId === null || customers.includes(entry.customerId)) continue
    const siteDevices = eb
      .selectFrom('devices')
      .select('devices.serial')
      .where('devices.customer_id', '=', entry.customerId)
      .where('devices.site_id', '=', entry.siteId)
    any.push(eb.and([eb('customer_id', '=', entry.customerId), eb('device_serial', 'in', siteDevices)]))
  }
  return any.length > 0 ? eb.or(any) : sql<SqlBool>`1 = 0`
}
