import type {Kysely} from 'kysely'
import {UnavailableError} from '../../shared/errors.js'
import type {DialectName} from '../db/connect.js'
import type {AuditEventRow, Database} from '../db/schema.js'
import type {AuditEvent} from './types.js'

/** The head row gone (never migrated, or deleted by hand): nothing can be appended or exported until it is restored. */
export function missingHead(): UnavailableError {
  return new UnavailableError('the audit chain head (audit_head) is missing: the database was not migrated (migration 002-audit-head) or the row was deleted; restore it from a backup', {code: 'AUDIT_UNAVAILABLE'})
}

/** Migration 002: the chain head, one row (id 1) updated with every append. */
export interface AuditHeadTable {
  id: number
  seq: number
  hash: string
  updated_at: string
}

/** The tables the audit module touches (audit_head is not in the shared schema yet). */
export type AuditDatabase = Database & {audit_head: AuditHeadTable}

/** What the audit library needs: a Kysely handle and which SQL dialect is behind it. */
export interface AuditStore {
  db: Kysely<Database>
  dialect: DialectName
}

export function auditDb(db: Kysely<Database>): Kysely<AuditDatabase> {
  return db as unknown as Kysely<AuditDatabase>
}

/**
 * Rows per keyset page for verify and export: bounded memory whatever the table size. 1000
 * rather than more: larger pages survive young-generation GC and raised peak RSS by ~80 MB
 * in bench/audit-export.ts while being slower, not faster.
 */
export const PAGE_ROWS = 1000

export function rowToEvent(row: AuditEventRow): AuditEvent {
  return {
    seq: Number(row.seq),
    id: row.id,
    time: row.time,
    actorType: row.actor_type,
    actor: row.actor,
    action: row.action,
    deviceSerial: row.device_serial,
    customerId: row.customer_id,
    outcome: row.outcome,
    sourceIp: row.source_ip,
    details: parseDetails(row.details),
    prevHash: row.prev_hash,
    hash: row.hash,
  }
}

/**
 * The stored details object. Text that is not a JSON object can only have been written by hand
 * (verify reports the row as edited); it is shown as it is rather than failing the whole page.
 */
function parseDetails(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text)
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>
  } catch {
    // Not JSON at all: falls through to the raw text below.
  }
  return {$unparsable: text}
}
