import type {Kysely} from 'kysely'
import type {ActorType, Database, Outcome} from '../db/schema.js'

/** What a caller records; id, time and hashes are added by the audit log. */
export interface AuditInput {
  actorType: ActorType
  actor: string
  action: string
  outcome: Outcome
  deviceSerial?: string | null
  customerId?: string | null
  sourceIp?: string | null
  details?: Record<string, unknown>
}

export interface AuditEvent extends Required<Omit<AuditInput, 'details'>> {
  seq: number
  id: string
  time: string
  details: Record<string, unknown>
  prevHash: string
  hash: string
}

export interface AuditPage {
  events: AuditEvent[]
  /** The `after` of the next page; null when this page was the last. */
  next: number | null
}

/**
 * The hash-chained trail (src/server/audit/). append() returns only once the event is
 * committed: callers await it before answering, so no audited action goes unrecorded. A state
 * change records its events with transaction() instead, so the change and its events commit
 * together; append() is for events that change nothing else (a denial, a download, a read).
 * The read side (list, export, verify) works on the database directly: AuditChain, or the
 * functions of export.ts and verify.ts.
 */
export interface AuditLog {
  /**
   * `alongside`, when given, writes in the group commit's transaction (a bookkeeping row that
   * must exist exactly when its event does) without a transaction of its own. It must not fail
   * for reasons of its own: its failure rolls back every event of the batch.
   */
  append(input: AuditInput, alongside?: (trx: Kysely<Database>) => Promise<void>): Promise<AuditEvent>
  /** A state change and its events in one transaction (AuditChain.transaction). */
  transaction<T>(work: (trx: Kysely<Database>, record: RecordAudit) => Promise<T>): Promise<T>
}

/** Records an event in the transaction of a change: stored with the change, or not at all. */
export type RecordAudit = (input: AuditInput) => void

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditLog
  }
}
