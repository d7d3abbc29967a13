import {type Expression, type ExpressionBuilder, type SqlBool, sql} from 'kysely'
import type {Scope as ScopeView} from '../../protocol/api/common.js'
import type {Scope} from './principal.js'

/**
 * The one place scope rules live. Every query returning customer-owned objects (devices, sites,
 * later jobs, logs, audit) adds `.where((eb) => scopeWhere(eb, principal.scope, {...}))`, and
 * every single-object lookup checks inScope(); an object outside the scope is a 404, never a 403,
 * so a scoped user cannot even learn it exists.
 */
export interface ScopeColumns {
  /** Qualified column holding the customer id, e.g. "devices.customer_id". */
  customerColumn: string
  /** Qualified column holding the site id; omit for objects that only belong to a customer. */
  siteColumn?: string
}

export const UNSCOPED: Scope = {all: true, entries: []}

export function scopeWhere<DB, TB extends keyof DB>(eb: ExpressionBuilder<DB, TB>, scope: Scope, columns: ScopeColumns): Expression<SqlBool> {
  if (scope.all) return sql<SqlBool>`1 = 1`
  if (scope.entries.length === 0) return sql<SqlBool>`1 = 0`
  const customer = sql.ref(columns.customerColumn)
  return eb.or(
    scope.entries.map((entry) => {
      if (entry.siteId === null) return sql<SqlBool>`${customer} = ${entry.customerId}`
      // A site-scoped entry on an object without a site column cannot match: the user only sees one site.
      if (!columns.siteColumn) return sql<SqlBool>`1 = 0`
      return sql<SqlBool>`(${customer} = ${entry.customerId} and ${sql.ref(columns.siteColumn)} = ${entry.siteId})`
    }),
  )
}

/** Whether an object of customerId (and siteId, when it has one) is visible with this scope. */
export function inScope(scope: Scope, customerId: string, siteId: string | null = null): boolean {
  if (scope.all) return true
  return scope.entries.some((e) => e.customerId === customerId && (e.siteId === null || e.siteId === siteId))
}

/** Whether the scope shows the customer at all (any site of it): customer lists. */
export function customerVisible(scope: Scope, customerId: string): boolean {
  return scope.all || scope.entries.some((e) => e.customerId === customerId)
}

export function scopeFromRows(scopeAll: number, rows: Array<{customer_id: string | null; site_id: string | null}>): Scope {
  if (scopeAll === 1) return {all: true, entries: []}
  const entries = rows.filter((r) => r.customer_id !== null).map((r) => ({customerId: r.customer_id as string, siteId: r.site_id}))
  return {all: false, entries}
}

export function scopeToView(scope: Scope): ScopeView {
  return {all: scope.all, entries: scope.entries.map((e) => ({customer: e.customerId, site: e.siteId}))}
}
