import {z} from 'zod'
import {AuditCheckpoint, CheckpointPublicKey} from '../audit-checkpoint.js'
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
// POST /audit/verify (audit:read, unscoped users only) -> the whole chain is checked, and every
// checkpoint given (kept by the auditor) and held by a device (witness) is checked against it.
export const AuditVerifyRequest = z.strictObject({checkpoints: z.array(AuditCheckpoint).max(100).optional()})
export type AuditVerifyRequest = z.infer<typeof AuditVerifyRequest>
export const VerifyProblemKind = z.enum(['edited', 'inserted', 'deleted', 'reordered', 'checkpoint', 'witness'])
export const CheckpointVerdictView = z.strictObject({
  seq: z.number().int(),
  hash: z.string(),
  verdict: z.enum(['ok', 'mismatch', 'unknown-key', 'bad-signature']),
  message: z.string().optional(),
})
export const AuditVerifyResponse = z.strictObject({
  ok: z.boolean(),
  checked: z.number().int(),
  /** The head the chain was verified up to: keep it outside, or keep a signed checkpoint. */
  head: z.strictObject({seq: z.number().int(), hash: z.string()}),
  problems: z.array(
    z.strictObject({
      seq: z.number().int().nullable(),
      id: z.string().nullable(),
      kind: VerifyProblemKind,
      message: z.string(),
    }),
  ),
  /** More problems were found than listed. */
  truncated: z.boolean(),
  /** The checkpoints given in the request, each with its verdict. */
  checkpoints: z.array(CheckpointVerdictView),
  /** Devices' witnesses: distinct checkpoints re-checked, and devices holding one. */
  witnesses: z.strictObject({checked: z.number().int(), devices: z.number().int()}),
})
export type AuditVerifyResponse = z.infer<typeof AuditVerifyResponse>
// GET /audit/checkpoint: the latest signed checkpoint; POST signs the current head first (if it moved)
export const CheckpointResponse = z.strictObject({checkpoint: AuditCheckpoint.nullable(), publicKey: CheckpointPublicKey})
export type CheckpointResponse = z.infer<typeof CheckpointResponse>

// GET /audit/report?since=&until=&customer= (audit:read, scope-filtered): the periodic access review.
// Remote access grouped by the incident reason given for it, each access with its flags.
export const AuditReportQuery = z.strictObject({
  since: z.string().max(64),
  until: z.string().max(64).optional(),
  customer: z.string().min(1).max(64).optional(),
})
export type AuditReportQuery = z.infer<typeof AuditReportQuery>

/** no-reason: no reason given and no approved request to take one from; outside-approval: no approved grant covered it; disabled-user: the user is disabled now. */
export const AccessFlag = z.enum(['no-reason', 'outside-approval', 'disabled-user'])
export type AccessFlag = z.infer<typeof AccessFlag>

export const ReportedAccess = z.strictObject({
  kind: z.enum(['tunnel', 'diagnostic', 'logs', 'update']),
  user: z.string(),
  device: z.string().nullable(),
  customer: z.string().nullable(),
  start: z.string(),
  /** Tunnels: seconds open (null while open or when the close was not recorded); jobs: null. */
  durationSeconds: z.number().nullable(),
  /** Tunnels: bytes both ways; null for jobs. */
  bytes: z.number().int().nullable(),
  /** What was reached, run or installed: a tunnel target, a diagnostic's name, logs since, an update's version. */
  what: z.string(),
  reason: z.string().nullable(),
  /** The approved access request that covered it, if any. */
  approval: z.string().nullable(),
  flags: z.array(AccessFlag),
})
export type ReportedAccess = z.infer<typeof ReportedAccess>

export const AuditReport = z.strictObject({
  since: z.string(),
  until: z.string(),
  customer: z.string().nullable(),
  generatedAt: z.string(),
  /** The last audit event the report read (an auditor can anchor it with a checkpoint). */
  upTo: z.number().int(),
  groups: z.array(z.strictObject({reason: z.string().nullable(), accesses: z.array(ReportedAccess)})),
  totals: z.strictObject({accesses: z.number().int(), flagged: z.number().int(), byFlag: z.record(z.string(), z.number().int())}),
})
export type AuditReport = z.infer<typeof AuditReport>
