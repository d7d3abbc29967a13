import {z} from 'zod'

/**
 * Enrollment tokens read "tet_enr_" + base64url(serial) + "." + 32 random bytes (base64url).
 * The serial travels in the token so that `tether agent enroll --token T` alone knows which
 * identity to put in its CSR; only the random part is secret, and the server stores a hash.
 */
export const ENROLL_TOKEN_PREFIX = 'tet_enr_'

export function encodeEnrollToken(serial: string, secret: string): string {
  return `${ENROLL_TOKEN_PREFIX}${Buffer.from(serial, 'utf8').toString('base64url')}.${secret}`
}

/** The serial a token was issued for, or null when the token is not in this format. */
export function serialFromEnrollToken(token: string): string | null {
  const m = /^tet_enr_([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]{16,}$/.exec(token.trim())
  if (!m) return null
  const serial = Buffer.from(m[1], 'base64url').toString('utf8')
  return /^[A-Za-z0-9._-]{1,128}$/.test(serial) ? serial : null
}

/**
 * POST /api/v1/agent/enroll: no user auth — the one-time token authenticates. The CSR's CN
 * must equal the token's serial. Errors: 400 (bad CSR / serial mismatch), 401 (unknown or
 * already used token), 410 (expired token), 429 (rate limit).
 */
export const AgentEnrollRequest = z.strictObject({
  token: z.string().min(16).max(256),
  /** PEM PKCS#10, ECDSA P-256 key generated on the device; CN = serial. */
  csr: z.string().min(64).max(16_384),
})
export type AgentEnrollRequest = z.infer<typeof AgentEnrollRequest>

export const AgentEnrollResponse = z.strictObject({
  serial: z.string(),
  /** PEM: the device certificate (clientAuth, CN = serial). */
  certificate: z.string(),
  /** PEM: the device CA that signed it (the agent presents certificate + chain). */
  caChain: z.string(),
  /** PEM: the server TLS root CA; the agent trusts only this for the server's certificate. */
  serverCa: z.string(),
  /** SHA-256 of the device certificate DER, lowercase hex. */
  fingerprint: z.string(),
  /** The model the device is registered with (the agent reports it in its inventory). */
  model: z.string().optional(),
})
export type AgentEnrollResponse = z.infer<typeof AgentEnrollResponse>
