import {createHash} from 'node:crypto'
import type {AuditEventRow} from '../db/schema.js'

/** prev_hash of the first event (seq 1). */
export const GENESIS_HASH = '0'.repeat(64)

/**
 * Canonical JSON (docs/audit-format.md): object keys sorted by UTF-16 code units, no
 * whitespace, strings and numbers as ECMAScript JSON.stringify writes them — the same
 * rules as RFC 8785 (JCS) for the values we store. Non-finite numbers are refused.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('audit details: non-finite number')
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`
      const obj = value as Record<string, unknown>
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort()
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
    }
    default:
      throw new TypeError(`audit details: cannot encode a ${typeof value}`)
  }
}

/**
 * Canonical text of a details object, as stored in audit_events.details. A JSON round trip
 * first turns Dates, Buffers and other toJSON() values into plain JSON, as the API would.
 */
export function canonicalDetails(details: Record<string, unknown> | undefined): string {
  if (details === undefined) return '{}'
  const plain = JSON.parse(JSON.stringify(details)) as unknown
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) throw new TypeError('audit details must be an object')
  return canonicalJson(plain)
}

/** The hashed fields of an event, as stored (details is its canonical JSON text): every column but the hash. */
export type HashedFields = Omit<AuditEventRow, 'hash'>

const str = (v: string | null): string => (v === null ? 'null' : JSON.stringify(v))

/**
 * The canonical encoding of one event: canonicalJson of the twelve fields above with details
 * as an object. Written out by hand in sorted key order because it runs once per event on
 * append, verify and nothing else in the hot path; `canonical.test.ts` proves it equals
 * canonicalJson(). Details text is spliced verbatim: we only ever store canonical text, and a
 * row whose text was rewritten (even to an equivalent form) then fails its hash, as it should.
 */
export function canonicalEvent(f: HashedFields): string {
  return (
    `{"action":${str(f.action)},"actor":${str(f.actor)},"actor_type":${str(f.actor_type)},` +
    `"customer_id":${str(f.customer_id)},"details":${f.details},"device_serial":${str(f.device_serial)},` +
    `"id":${str(f.id)},"outcome":${str(f.outcome)},"prev_hash":${str(f.prev_hash)},"seq":${f.seq},` +
    `"source_ip":${str(f.source_ip)},"time":${str(f.time)}}`
  )
}

/** hash = lowercase hex SHA-256 of the UTF-8 canonical encoding. */
export function eventHash(f: HashedFields): string {
  return createHash('sha256').update(canonicalEvent(f), 'utf8').digest('hex')
}
