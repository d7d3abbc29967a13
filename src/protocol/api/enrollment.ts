import {z} from 'zod'
import {Slug, Timestamp} from './common.js'

// POST /devices/enroll-tokens (devices:enroll, in scope): creates or updates the device row
// and returns a one-time token. The token is shown once; the server keeps only its hash.
export const CreateEnrollTokenRequest = z.strictObject({
  serial: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, '1-128 letters, digits, or . _ -'),
  /** Required for a device not registered yet; a registered device keeps its model when absent. */
  model: z.string().min(1).max(128).optional(),
  customer: Slug,
  site: Slug.optional(),
  /** Lifetime in seconds: 5 minutes to 30 days; default 24 h. */
  ttlSeconds: z.number().int().min(300).max(30 * 24 * 3600).optional(),
})
export type CreateEnrollTokenRequest = z.infer<typeof CreateEnrollTokenRequest>

export const EnrollTokenView = z.strictObject({
  serial: z.string(),
  model: z.string(),
  customer: Slug,
  site: Slug.nullable(),
  /** The one-time token; appears only in this response. */
  token: z.string(),
  expiresAt: Timestamp,
})
export type EnrollTokenView = z.infer<typeof EnrollTokenView>

// POST /devices/:serial/revoke (devices:manage, in scope) -> RevokeView
export const RevokeView = z.strictObject({
  serial: z.string(),
  revokedAt: Timestamp,
  /** True when a live agent connection was cut. */
  disconnected: z.boolean(),
})
export type RevokeView = z.infer<typeof RevokeView>
