import {z} from 'zod'
import {Timestamp} from './common.js'

export const AuditEventView = z.strictObject({
  seq: z.number().int(),
  id: z.string(),
  time: Timestamp,
  actorType: z.enum(['user', 'device', 'system']),
  actor: z.string(),
  action: z.string(),
  deviceSerial: z.string().nullable(),
  customer: z.string().nullable(),
  outcome: z.enum(['success', 'failure', 'denied']),
  sourceIp: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  prevHash: z.string(),
  hash: z.string(),
})
export type AuditEventView = z.infer<typeof AuditEventView>

/** Filters shared by list and export (audit:read; scoped users only see their customers). */
export const AuditQuery = z.strictObject({
  since: Timestamp.optional(),
  until: Timestamp.optional(),
  user: z.string().optional(),
  device: z.string().optional(),
  action: z.string().optional(),
})
// GET /audit/events?...&after=SEQ&limit=N -> {events, next}
export const AuditListQuery = AuditQuery.extend({
  after: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().positive().max(1000).optional(),
})
export const AuditList = z.strictObject({events: z.array(AuditEventView), next: z.number().int().nullable()})
// GET /audit/export?...&format=jsonl|csv -> streamed body (constant memory), itself audited
export const AuditExportQuery = AuditQuery.extend({format: z.enum(['jsonl', 'csv']).default('jsonl')})
// POST /audit/verify (audit:read, unscoped users only) -> the whole chain is checked
export const AuditVerifyResponse = z.strictObject({
  ok: z.boolean(),
  checked: z.number().int(),
  problems: z.array(
    z.strictObject({
      seq: z.number().int().nullable(),
      id: z.string().nullable(),
      kind: z.enum(['edited', 'inserted', 'deleted', 'reordered']),
      message: z.string(),
    }),
  ),
})
export type AuditVerifyResponse = z.infer<typeof AuditVerifyResponse>
