import {z} from 'zod'

/**
 * Just-in-time access (docs/access-requests.md): an engineer asks, the person at the device
 * decides. The server delivers each request to the agent as an `access.request` request on the
 * control channel (again on every connect until the device has it); the device answers with its
 * decision later, as a `device.access.decided` event through its outbox (device-events.ts).
 *
 * This file must not import messages.ts (messages.ts imports it to build the request union).
 */

/** The longest access one request can ask for, and a device can grant: one shift. */
export const MAX_ACCESS_SECONDS = 24 * 3600
/** How long a request may wait for a decision by default, and at most. */
export const DEFAULT_ACCESS_DECISION_TTL_SECONDS = 3600
export const MAX_ACCESS_DECISION_TTL_SECONDS = 7 * 24 * 3600
/** Ports one request may name. */
export const MAX_ACCESS_PORTS = 16

export const AccessPort = z.number().int().min(1, 'a TCP port is 1-65535').max(65535, 'a TCP port is 1-65535')
export const AccessReason = z.string().trim().min(1, 'say why (an incident or ticket number)').max(256)
export const AccessSeconds = z.number().int().min(1).max(MAX_ACCESS_SECONDS, `at most ${MAX_ACCESS_SECONDS / 3600}h`)

/** States of a request, on the server and on the device. pending → approved → expired|revoked; pending → denied|expired. */
export const AccessRequestState = z.enum(['pending', 'approved', 'denied', 'expired', 'revoked'])
export type AccessRequestState = z.infer<typeof AccessRequestState>
export const FINAL_ACCESS_STATES: readonly AccessRequestState[] = ['denied', 'expired', 'revoked']

/** What the device decided (the `decision` of device.access.decided). */
export const AccessDecision = z.enum(['approved', 'denied', 'revoked', 'expired'])
export type AccessDecision = z.infer<typeof AccessDecision>

export const AccessRequestParams = z.object({
  requestId: z.uuid(),
  /** The engineer's username on the server: a grant lets only this user in. */
  user: z.string().min(1).max(64),
  reason: AccessReason,
  /** TCP ports on the device the engineer asks for; empty = the ports the device allows when approved. */
  ports: z.array(AccessPort).max(MAX_ACCESS_PORTS),
  /** How long the access would last once approved. */
  durationSeconds: AccessSeconds,
  requestedAt: z.string().max(64),
  /** After this the request can no longer be approved (ISO-8601 UTC). */
  expiresAt: z.string().max(64),
})
export type AccessRequestParams = z.infer<typeof AccessRequestParams>

/** Answered {ok: true, result: {state}} once the device has stored it (a repeat is answered the same). */
export const AccessRequestRequest = z.object({
  type: z.literal('request'),
  id: z.string().min(1).max(128),
  kind: z.literal('access.request'),
  params: AccessRequestParams,
})
export type AccessRequestRequest = z.infer<typeof AccessRequestRequest>
