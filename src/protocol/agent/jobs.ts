import {z} from 'zod'
import {UpdateJobParams} from '../updates/index.js'

/**
 * Jobs on the control channel (diagnostics and log collections). The server pushes `job`; the
 * agent answers with one or more `job-update`s (running with progress, then exactly one final
 * status). The server stores each update; there is no separate ack: a lost update is repaired by
 * the final one. jobIds are UUIDs chosen by the server; the agent remembers recent ones so a job
 * pushed twice (e.g. after a reconnect before the first update was stored) runs once, and answers
 * the duplicate with its last known status.
 *
 * This file must not import messages.ts (messages.ts imports it to build the unions).
 */

/**
 * The job kinds, one entry each: the params the server sends and the name people use for the kind
 * (agent.json's acceptedJobKinds, `--kind`, tables). Adding a kind is an entry here plus one module
 * per side (src/server/jobs/kinds, src/agent/jobs/kinds, src/client/job-kinds), never a branch.
 * The protocol's 'diagnostic' reads 'diagnostics' for people; the wire and the API keep 'diagnostic'.
 */
type Params = Record<string, unknown>
export const JOB_KINDS = {
  // A table's kind column already says "diagnostics"; the access review lists no kind column, so
  // its line names the kind too ("diagnostic memory").
  diagnostic: {label: 'diagnostics', params: z.lazy(() => DiagnosticJobParams), subject: (p: Params) => String(p.name ?? '?'), reviewed: (p: Params) => `diagnostic ${String(p.name ?? '?')}`},
  logs: {label: 'logs', params: z.lazy(() => LogsJobParams), subject: logsSubject, reviewed: logsSubject},
  update: {label: 'updates', params: z.lazy(() => UpdateJobParams), subject: updateSubject, reviewed: updateSubject},
} as const

function logsSubject(p: Params): string {
  return p.since ? `logs since ${String(p.since)}` : 'logs'
}

function updateSubject(p: Params): string {
  return `update to ${String(p.version ?? '?')}`
}

/** What a job is about, in a few words (tables); an unknown kind names itself. */
export function jobSubject(kind: string, params: Params): string {
  return Object.hasOwn(JOB_KINDS, kind) ? JOB_KINDS[kind as JobKind].subject(params) : kind
}

/** What the access review (`audit report`) says a job did on a device. */
export function reviewedJobSubject(kind: JobKind, params: Params): string {
  return JOB_KINDS[kind].reviewed(params)
}

export const JobKind = z.enum(Object.keys(JOB_KINDS) as [keyof typeof JOB_KINDS, ...Array<keyof typeof JOB_KINDS>])
export type JobKind = z.infer<typeof JobKind>
export type JobKindLabel = (typeof JOB_KINDS)[JobKind]['label']
export const JOB_KIND_LABELS = Object.values(JOB_KINDS).map((k) => k.label) as JobKindLabel[]

/** 'diagnostics' → 'diagnostic'; undefined for a name that is no kind. */
export function jobKindOfLabel(label: string): JobKind | undefined {
  return (Object.keys(JOB_KINDS) as JobKind[]).find((kind) => JOB_KINDS[kind].label === label)
}

/** Statuses a job can have on the server; the agent only ever reports the `JobUpdateStatus` ones. */
export const JobStatus = z.enum(['queued', 'sent', 'running', 'succeeded', 'failed', 'refused', 'expired', 'cancelled'])
export type JobStatus = z.infer<typeof JobStatus>
export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'refused', 'expired', 'cancelled']

export const JobUpdateStatus = z.enum(['running', 'succeeded', 'failed', 'refused'])
export type JobUpdateStatus = z.infer<typeof JobUpdateStatus>

/** Diagnostic names: built-ins plus customer scripts declared in agent.json. */
export const DiagnosticName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lowercase letters, digits, . _ -; at most 64')
export const BUILTIN_DIAGNOSTICS = [
  'system-info',
  'disk-usage',
  'memory',
  'uptime-load',
  'network',
  'server-reachability',
  'agent-log-tail',
] as const

export const DiagnosticJobParams = z.object({name: DiagnosticName})
export type DiagnosticJobParams = z.infer<typeof DiagnosticJobParams>

export const LogsJobParams = z.object({
  /** ISO-8601 UTC: only files modified at or after this time; absent = all matching files. */
  since: z.string().max(64).optional(),
})
export type LogsJobParams = z.infer<typeof LogsJobParams>

/** Upper bound of a `job-update` result (JSON-serialised); agents truncate/summarise above it. */
export const MAX_JOB_RESULT_BYTES = 256 * 1024
/** The control channel frame limit is raised for job updates carrying results (see MAX_FRAME_BYTES). */

const JobId = z.string().min(1).max(128)

/** A `job` message of one kind: the envelope is the same for every kind, the params are the kind's. */
function jobMessageOf<K extends JobKind, P extends z.ZodType>(kind: K, params: P) {
  return z.object({
    type: z.literal('job'),
    id: z.string().min(1).max(128).optional(),
    jobId: JobId,
    kind: z.literal(kind),
    params,
    /** ISO-8601 UTC; the agent refuses to start a job whose deadline has passed (status failed, code EXPIRED). */
    deadline: z.string(),
  })
}
export const JobMessage = z.discriminatedUnion('kind', [
  jobMessageOf('diagnostic', DiagnosticJobParams),
  jobMessageOf('logs', LogsJobParams),
  jobMessageOf('update', UpdateJobParams),
])
export type JobMessage = z.infer<typeof JobMessage>

export const JobProgress = z.object({
  done: z.number().nonnegative(),
  total: z.number().nonnegative().optional(),
  /** Where a long job is (an update: downloading, waiting-for-window, …); older agents send none. */
  phase: z.string().max(32).optional(),
})
export type JobProgress = z.infer<typeof JobProgress>

export const JobError = z.object({code: z.string().max(64), message: z.string().max(1024)})
export type JobError = z.infer<typeof JobError>

/** Result of a succeeded `logs` job. */
export const LogsJobResult = z.object({bundleId: z.string(), size: z.number().int().nonnegative(), sha256: z.string()})
export type LogsJobResult = z.infer<typeof LogsJobResult>

export const JobUpdateMessage = z.object({
  type: z.literal('job-update'),
  id: z.string().min(1).max(128).optional(),
  jobId: JobId,
  status: JobUpdateStatus,
  progress: JobProgress.optional(),
  /** Diagnostic output (JSON, <= MAX_JOB_RESULT_BYTES) or LogsJobResult. */
  result: z.unknown().optional(),
  /** For failed/refused: why (refused codes: KIND_NOT_ALLOWED, UNKNOWN_DIAGNOSTIC). */
  error: JobError.optional(),
})
export type JobUpdateMessage = z.infer<typeof JobUpdateMessage>

export const JobErrorCodes = {
  kindNotAllowed: 'KIND_NOT_ALLOWED',
  unknownDiagnostic: 'UNKNOWN_DIAGNOSTIC',
  timeout: 'TIMEOUT',
  expired: 'EXPIRED',
  failed: 'FAILED',
  busy: 'BUSY',
} as const

// ---- log uploads (device → server over HTTPS with the device's mTLS client certificate) -----

export const AGENT_UPLOADS_PATH = '/api/v1/agent/uploads'
/** Recommended chunk size; the server accepts chunks up to MAX_UPLOAD_CHUNK_BYTES. */
export const UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
export const MAX_UPLOAD_CHUNK_BYTES = 16 * 1024 * 1024
/** Largest bundle the server accepts (bounded spool on both sides). */
export const MAX_BUNDLE_BYTES = 4 * 1024 * 1024 * 1024

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'lowercase hex SHA-256')

/** How a bundle is packed: what the file is and which reader opens it. */
export const BundleFormat = z.enum(['tar.gz', 'tar.zst'])
export type BundleFormat = z.infer<typeof BundleFormat>

// POST AGENT_UPLOADS_PATH
// Declared up front (size + sha256, the bundle already collected: agents before streaming) or
// streamed (neither: the agent uploads while it collects, and declares both on the final chunk).
export const CreateUploadRequest = z.strictObject({
  /** The `logs` job this upload answers; absent = device-initiated (`tether agent logs upload`). */
  jobId: z.string().min(1).max(128).optional(),
  size: z.number().int().positive().max(MAX_BUNDLE_BYTES).optional(),
  sha256: Sha256Hex.optional(),
  since: z.string().max(64).optional(),
  /** Absent: tar.gz (agents before zstd). */
  format: BundleFormat.optional(),
})
export type CreateUploadRequest = z.infer<typeof CreateUploadRequest>

/**
 * State of an upload. `offset` is the number of bytes committed; the server may commit fewer
 * bytes than sent (it keeps whole encryption segments only), so the agent always continues from
 * the returned offset. `size` is null while a streamed upload has not seen its final chunk.
 * `bundleId` is set once offset == size and the SHA-256 matched.
 */
export const UploadState = z.strictObject({
  uploadId: z.string(),
  size: z.number().int().nonnegative().nullable(),
  offset: z.number().int().nonnegative(),
  status: z.enum(['open', 'complete']),
  bundleId: z.string().nullable(),
})
export type UploadState = z.infer<typeof UploadState>

// PUT AGENT_UPLOADS_PATH/:id?offset=N[&final=1&size=S&sha256=H]  body: application/octet-stream chunk → UploadState
// A streamed upload's last chunk carries final=1 with the whole bundle's size and SHA-256; it
// must hold at least the last byte (the server seals the final encryption segment from it).
// 409 OFFSET_MISMATCH (body error.message names the committed offset; GET to resync)
// 422 CHECKSUM_MISMATCH when the completed upload's SHA-256 differs (upload discarded; start over)
// GET AGENT_UPLOADS_PATH/:id → UploadState
export const UploadChunkQuery = z.strictObject({
  offset: z.coerce.number().int().nonnegative(),
  final: z.enum(['1']).optional(),
  size: z.coerce.number().int().positive().max(MAX_BUNDLE_BYTES).optional(),
  sha256: Sha256Hex.optional(),
})
