import {z} from 'zod'

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
})
export type AgentEnrollResponse = z.infer<typeof AgentEnrollResponse>
