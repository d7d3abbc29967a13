import {z} from 'zod'
import {JobTtl} from './jobs.js'
import {Slug, Timestamp} from './common.js'

export const LogBundleView = z.strictObject({
  id: z.string(),
  serial: z.string(),
  customer: Slug,
  /** Plaintext (the tar.zst or tar.gz) size in bytes. */
  size: z.number().int().nonnegative(),
  /** SHA-256 (hex) of the plaintext bundle. */
  sha256: z.string(),
  /** tar.zst (zstd frames, agents since streaming) or tar.gz (earlier agents); the file name's extension. */
  format: z.enum(['tar.gz', 'tar.zst']),
  /** Residency label of the storage the bundle was written to (server setting logs.region). */
  region: z.string(),
  createdAt: Timestamp,
  initiator: z.enum(['user', 'device']),
  /** Username for user-initiated bundles; null for device-initiated ones. */
  requestedBy: z.string().nullable(),
  jobId: z.string().nullable(),
  since: Timestamp.nullable(),
})
export type LogBundleView = z.infer<typeof LogBundleView>
export const LogBundleList = z.strictObject({bundles: z.array(LogBundleView)})
export type LogBundleList = z.infer<typeof LogBundleList>

// GET /logs?device=&limit= (logs:pull, filtered by scope; newest first)
export const LogBundleQuery = z.strictObject({
  device: z.string().min(1).max(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})
export type LogBundleQuery = z.infer<typeof LogBundleQuery>

// POST /devices/:serial/logs (logs:pull) → 202 JobView
export const RequestLogsRequest = z.strictObject({
  /** ISO-8601 UTC: only files modified since then. */
  since: Timestamp.optional(),
  ttlSeconds: JobTtl.optional(),
})
export type RequestLogsRequest = z.infer<typeof RequestLogsRequest>

// GET /logs/:id (logs:pull) → LogBundleView
// GET /logs/:id/content (logs:pull) → application/zstd (tar.zst) or application/gzip (tar.gz) stream of the decrypted bundle with
//   Content-Length and X-Content-SHA256 headers; audited (logs.bundle.downloaded) before the
//   first byte. A tampered segment aborts the stream (the client sees a short body / reset and
//   the SHA-256 check fails); a full verification pass runs before any byte is sent when the
//   bundle is small enough (see docs/logs.md).
export const CONTENT_SHA256_HEADER = 'x-content-sha256'

/** The media type a bundle is served as, by format. */
export const BUNDLE_MEDIA_TYPES = {'tar.gz': 'application/gzip', 'tar.zst': 'application/zstd'} as const
