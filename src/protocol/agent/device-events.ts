import {z} from 'zod'

/**
 * The device events the server records in its audit trail: a fixed registry of `device.*`
 * actions, each with the schema of its details. The agent sends only these (as `event`
 * messages, from its outbox); the server refuses any other action, or details that do not fit
 * the action's schema, with an `event-ack` that carries `refused` (so the agent drops the event
 * instead of resending it forever) and counts the refusal. A device can therefore never write
 * `auth.login` or any other server action into the server's audit.
 *
 * Details are strict objects: what a device may say about itself is decided here, not by the
 * device. `actor` is the local actor (e.g. "local:root", "agent", "server") added by the agent.
 *
 * This file must not import messages.ts (messages.ts imports it).
 */

const Text = (max: number) => z.string().max(max)
const Mode = z.enum(['allow', 'no-access', 'approval-required'])
const Actor = Text(128)

/** A job's params as the server sent them: small, flat, and of JSON primitives only. */
const JobParams = z.record(Text(64), z.union([Text(1024), z.number(), z.boolean(), z.null()])).refine((p) => Object.keys(p).length <= 32, 'at most 32 params')

export const DEVICE_EVENTS = {
  /** The customer changed the access mode on the device, or a temporary allow expired. */
  'device.access-mode.changed': z.strictObject({
    actor: Actor,
    from: Mode,
    to: Mode,
    until: Text(64).nullable().optional(),
    reason: Text(64).optional(),
  }),
  /** The device's policy refused a remote session (no-access mode, port not allowed). */
  'device.session.refused': z.strictObject({
    actor: Actor,
    requestId: Text(128),
    target: Text(32),
    port: z.number().int().min(1).max(65535).optional(),
    mode: Mode,
    code: Text(64),
    reason: Text(1024),
  }),
  /**
   * The device ended a live tunnel stream itself: the access mode changed, the target left the
   * allowlist, the approval ended, or someone at the device ended it (`agent sessions end`).
   */
  'device.session.ended': z.strictObject({
    actor: Actor,
    streamId: Text(64),
    user: Text(128),
    target: Text(300),
    why: z.enum(['no-access', 'not-allowed', 'approval-ended', 'ended-on-device', 'agent-stopping']),
  }),
  /**
   * Someone at the device decided an access request (approved, denied, or revoked a grant early),
   * or the agent found it expired. The server moves its copy of the request to that state.
   */
  'device.access.decided': z.strictObject({
    actor: Actor,
    requestId: z.uuid(),
    decision: z.enum(['approved', 'denied', 'revoked', 'expired']),
    /** The engineer the request is for. */
    user: Text(64),
    /** Approved: the ports granted and when the grant ends (ISO-8601 UTC). */
    ports: z.array(z.number().int().min(1).max(65535)).max(16).optional(),
    until: Text(64).nullable().optional(),
  }),
  /** The device refused a job (a kind its agent.json does not accept). */
  'device.job.refused': z.strictObject({
    actor: Actor,
    jobId: Text(128),
    kind: Text(32),
    params: JobParams,
    code: Text(64),
    reason: Text(1024),
  }),
  /**
   * A step of a software update on the device (issue #12): downloaded, verified, refused (which
   * check), installed, health check failed, rolled back. The job's own updates carry the status;
   * these are the audit trail an auditor reads.
   */
  'device.update.step': z.strictObject({
    actor: Actor,
    jobId: Text(128),
    deploymentId: Text(64),
    version: Text(64),
    step: z.enum(['downloaded', 'verified', 'refused', 'approved', 'deferred', 'installed', 'health-failed', 'rolled-back', 'rollback-failed', 'install-failed']),
    check: Text(64).optional(),
    reason: Text(1024).optional(),
    bytes: z.number().int().nonnegative().optional(),
  }),
} as const satisfies Record<`device.${string}`, z.ZodType<Record<string, unknown>>>

export type DeviceEventAction = keyof typeof DEVICE_EVENTS
export const DEVICE_EVENT_ACTIONS = Object.keys(DEVICE_EVENTS) as DeviceEventAction[]

export function isDeviceEventAction(action: string): action is DeviceEventAction {
  return Object.hasOwn(DEVICE_EVENTS, action)
}

export type DeviceEventCheck = {ok: true; details: Record<string, unknown>} | {ok: false; code: 'UNKNOWN_ACTION' | 'INVALID_DETAILS'; message: string}

/** Checks an event's action and details against the registry; the message names the field. */
export function checkDeviceEvent(action: string, details: unknown): DeviceEventCheck {
  if (!isDeviceEventAction(action)) {
    return {ok: false, code: 'UNKNOWN_ACTION', message: `"${action.slice(0, 64)}" is not a device event (allowed: ${DEVICE_EVENT_ACTIONS.join(', ')})`}
  }
  const parsed = DEVICE_EVENTS[action].safeParse(details)
  if (parsed.success) return {ok: true, details: parsed.data}
  const issue = parsed.error.issues[0]
  return {ok: false, code: 'INVALID_DETAILS', message: `details.${issue?.path.join('.') || ''}: ${issue?.message ?? 'invalid'}`.slice(0, 1000)}
}
