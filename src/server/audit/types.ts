import type {ActorType, Outcome} from '../db/schema.js'

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
 * committed: callers await it before answering, so no audited action goes unrecorded.
 * The read side (list, export, verify) works on the database directly: AuditChain, or the
 * functions of export.ts and verify.ts.
 */
export interface AuditLog {
  append(input: AuditInput): Promise<AuditEvent>
}

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditLog
  }
}
