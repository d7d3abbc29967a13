import {Readable} from 'node:stream'
import {csvField} from '../../shared/csv.js'
import type {AuditEventRow} from '../db/schema.js'
import {type AuditFilter, filterConditions} from './query.js'
import {type AuditStore, PAGE_ROWS, auditDb, missingHead, rowToEvent} from './tables.js'
import type {AuditInput, AuditLog, AuditPage} from './types.js'

export type ExportFormat = 'jsonl' | 'csv'

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  jsonl: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
}

export const CSV_COLUMNS = [
  'seq', 'id', 'time', 'actor_type', 'actor', 'action', 'device_serial', 'customer', 'outcome', 'source_ip', 'details', 'prev_hash', 'hash',
] as const

/** One page of GET /audit/events: `next` is the `after` of the following page, null at the end. */
export async function listEvents(store: AuditStore, filter: AuditFilter, after: number, limit: number): Promise<AuditPage> {
  const rows = await auditDb(store.db)
    .selectFrom('audit_events')
    .selectAll()
    .where((eb) => eb.and([eb('seq', '>', after), ...filterConditions(eb, filter)]))
    .orderBy('seq')
    .limit(limit)
    .execute()
  const events = rows.map((r) => rowToEvent(r))
  return {events, next: rows.length === limit ? Number(rows.at(-1)!.seq) : null}
}

/**
 * Pages of matching rows in seq order with seq <= upTo, by keyset (seq > last): one page in
 * memory at a time, and the next query only runs when the consumer asks for more.
 */
export async function* eventPages(store: AuditStore, filter: AuditFilter, upTo: number, pageRows = PAGE_ROWS): AsyncGenerator<AuditEventRow[]> {
  let after = 0
  const db = auditDb(store.db)
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .selectAll()
      .where((eb) => eb.and([eb('seq', '>', after), eb('seq', '<=', upTo), ...filterConditions(eb, filter)]))
      .orderBy('seq')
      .limit(pageRows)
      .execute()
    if (rows.length === 0) return
    yield rows
    if (rows.length < pageRows) return
    after = Number(rows.at(-1)!.seq)
  }
}

const str = (v: string | null): string => (v === null ? 'null' : JSON.stringify(v))

/** One JSONL line in the AuditEventView shape (src/protocol/api/audit.ts); details verbatim. */
export function jsonlLine(r: AuditEventRow): string {
  return (
    `{"seq":${Number(r.seq)},"id":${str(r.id)},"time":${str(r.time)},"actorType":${str(r.actor_type)},` +
    `"actor":${str(r.actor)},"action":${str(r.action)},"deviceSerial":${str(r.device_serial)},` +
    `"customer":${str(r.customer_id)},"outcome":${str(r.outcome)},"sourceIp":${str(r.source_ip)},` +
    `"details":${r.details},"prevHash":${str(r.prev_hash)},"hash":${str(r.hash)}}\n`
  )
}


export function csvLine(r: AuditEventRow): string {
  const fields = [
    Number(r.seq), r.id, r.time, r.actor_type, r.actor, r.action, r.device_serial, r.customer_id, r.outcome, r.source_ip, r.details, r.prev_hash, r.hash,
  ]
  return `${fields.map((f) => csvField(f)).join(',')}\r\n`
}

const CHUNK_ROWS = 250

export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`

/** The export body as text chunks (one per page), for a Readable or a file. */
export async function* exportChunks(store: AuditStore, filter: AuditFilter, format: ExportFormat, upTo: number): AsyncGenerator<string> {
  const line = format === 'csv' ? csvLine : jsonlLine
  if (format === 'csv') yield CSV_HEADER
  for await (const rows of eventPages(store, filter, upTo)) {
    // ~100 KB chunks: small enough to stay out of V8's large-object space.
    for (let i = 0; i < rows.length; i += CHUNK_ROWS) {
      let chunk = ''
      for (let k = i; k < Math.min(i + CHUNK_ROWS, rows.length); k++) chunk += line(rows[k])
      yield chunk
    }
  }
}

export interface ExportStarted {
  /** Events the stream will carry: the matches with seq <= upTo. */
  count: number
  /** The chain head when the export began; later events (incl. the audit.export itself) are not included. */
  upTo: number
  /** The hash of event upTo: with upTo, the head an auditor keeps outside to anchor this export. */
  upToHash: string
}

/**
 * Starts an export: fixes its end (the head), counts the matches, appends `audit.export`
 * with the filters and the count — before a byte is sent, so an aborted download is still
 * on record — and returns the stream. Readable.from pulls a page only when the consumer
 * drained the previous one (backpressure); destroying the stream stops the queries.
 */
export async function startExport(
  store: AuditStore,
  log: AuditLog,
  filter: AuditFilter,
  format: ExportFormat,
  actor: AuditInput,
): Promise<ExportStarted & {stream: Readable}> {
  const head = await auditDb(store.db).selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst()
  if (!head) throw missingHead()
  const upTo = Number(head.seq)
  const counted = await auditDb(store.db)
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where((eb) => eb.and([eb('seq', '<=', upTo), ...filterConditions(eb, filter)]))
    .executeTakeFirstOrThrow()
  const count = Number(counted.n)
  const {scope, ...filters} = filter
  await log.append({
    ...actor,
    action: 'audit.export',
    details: {...actor.details, format, filters, count, upTo, upToHash: head.hash, scoped: scope ? !scope.all : false},
  })
  const stream = Readable.from(exportChunks(store, filter, format, upTo), {objectMode: false})
  return {count, upTo, upToHash: head.hash, stream}
}
