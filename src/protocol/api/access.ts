import {z} from 'zod'
import {AccessPort, AccessReason, AccessRequestState, AccessSeconds, MAX_ACCESS_DECISION_TTL_SECONDS, MAX_ACCESS_PORTS} from '../agent/access.js'
import {Slug, Timestamp} from './common.js'

// POST /devices/:serial/access-requests (tunnels:open; 404 when the device is missing or out of scope) → 201 AccessRequestView
export const CreateAccessRequest = z.strictObject({
  reason: AccessReason,
  /** How long the access lasts once approved (at most 24h). */
  durationSeconds: AccessSeconds,
  /** Ports on the device; absent or empty = the ports the device allows when it approves. */
  ports: z
    .array(AccessPort)
    .max(MAX_ACCESS_PORTS)
    .refine((p) => new Set(p).size === p.length, 'a port is named twice')
    .optional(),
  /** How long the request may wait for a decision (default 1h, at most 7d). */
  ttlSeconds: z.number().int().min(1).max(MAX_ACCESS_DECISION_TTL_SECONDS).optional(),
})
export type CreateAccessRequest = z.infer<typeof CreateAccessRequest>

export const AccessRequestView = z.strictObject({
  id: z.string(),
  serial: z.string(),
  customer: Slug,
  requestedBy: z.string(),
  reason: z.string(),
  ports: z.array(z.number()),
  durationSeconds: z.number(),
  state: AccessRequestState,
  createdAt: Timestamp,
  /** Undecided after this, the request expires. */
  expiresAt: Timestamp,
  /** When the device stored it; null while it has not (offline: delivered when it connects). */
  deliveredAt: Timestamp.nullable(),
  decidedAt: Timestamp.nullable(),
  /** Who decided at the device ("local:alice"), or "agent"/"server" for an expiry. */
  decidedBy: z.string().nullable(),
  /** Approved: when the grant ends. */
  until: Timestamp.nullable(),
})
export type AccessRequestView = z.infer<typeof AccessRequestView>
export const AccessRequestList = z.strictObject({requests: z.array(AccessRequestView)})
export type AccessRequestList = z.infer<typeof AccessRequestList>

// GET /access-requests?device=&state=&limit= (devices:read, filtered by scope; newest first)
export const AccessRequestQuery = z.strictObject({
  device: z.string().min(1).max(128).optional(),
  state: AccessRequestState.optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
})
export type AccessRequestQuery = z.infer<typeof AccessRequestQuery>
// GET /access-requests/:id → AccessRequestView (devices:read; 404 when missing or out of scope)
