import {z} from 'zod'
import {DiagnosticName, JobKind, JobStatus} from '../agent/jobs.js'
import {Slug, Timestamp} from './common.js'

export const JobView = z.strictObject({
  id: z.string(),
  serial: z.string(),
  customer: Slug,
  kind: JobKind,
  params: z.record(z.string(), z.unknown()),
  status: JobStatus,
  requestedBy: z.string(),
  createdAt: Timestamp,
  deadline: Timestamp,
  sentAt: Timestamp.nullable(),
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  progress: z.strictObject({done: z.number(), total: z.number().optional(), phase: z.string().optional()}).nullable(),
  /** Diagnostic output, or {bundleId, size, sha256} for a logs job. */
  result: z.unknown().nullable(),
  error: z.strictObject({code: z.string(), message: z.string()}).nullable(),
})
export type JobView = z.infer<typeof JobView>
export const JobList = z.strictObject({jobs: z.array(JobView)})
export type JobList = z.infer<typeof JobList>

// GET /jobs?device=&status=&kind=&limit=  (devices:read, filtered by scope; newest first)
export const JobQuery = z.strictObject({
  device: z.string().min(1).max(128).optional(),
  status: JobStatus.optional(),
  kind: JobKind.optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})
export type JobQuery = z.infer<typeof JobQuery>
// GET /jobs/:id → JobView (devices:read; 404 when missing or out of scope)
// POST /jobs/:id/cancel → JobView (diagnostics:run or logs:pull by kind; 409 when already final)

/** Default time a job may wait for an offline device before it expires. */
export const DEFAULT_JOB_TTL_SECONDS = 24 * 3600
export const JobTtl = z.number().int().min(1).max(30 * 24 * 3600)

// POST /devices/:serial/diagnostics (diagnostics:run) → 202 JobView
export const RunDiagnosticRequest = z.strictObject({
  name: DiagnosticName,
  /** Seconds until a still-queued job expires (default DEFAULT_JOB_TTL_SECONDS). */
  ttlSeconds: JobTtl.optional(),
})
export type RunDiagnosticRequest = z.infer<typeof RunDiagnosticRequest>

// GET /devices/:serial/diagnostics (devices:read) → the catalogue the agent last reported
export const DiagnosticCatalogue = z.strictObject({
  serial: z.string(),
  online: z.boolean(),
  /** null when the agent never reported one (older agent or never connected). */
  diagnostics: z.array(z.string()).nullable(),
  jobKinds: z.array(z.string()).nullable(),
})
export type DiagnosticCatalogue = z.infer<typeof DiagnosticCatalogue>
