import type {DeviceEndReason} from '../../protocol/agent/tunnels.js'
import type {CloseReason} from './live.js'

/**
 * The human line of an END frame (tunnel-frames.ts): why the server ended the stream, as the
 * engineer's CLI prints it. The reason itself travels beside it; the CLI picks its exit code
 * from the reason, never from this text.
 */
const MESSAGES: Record<CloseReason, (by?: string) => string> = {
  finished: () => 'the stream ended normally',
  'device-gone': () => 'the device cut the stream (its access policy or someone at the device ended it) or its connection to the server was lost',
  'engineer-gone': () => 'the engineer disconnected',
  'closed-by-user': (by) => `the tunnel was closed by ${by ?? 'a user'} on the server`,
  'user-disabled': () => 'your user was disabled on the server',
  'credentials-revoked': () => 'the credentials the tunnel was opened with were revoked or expired (session logged out, API token revoked)',
  'device-revoked': () => 'the device was revoked on the server',
  idle: () => 'the tunnel was idle for too long',
  'server-shutdown': () => 'the server node carrying the tunnel is shutting down',
  'node-lost': () => 'the server node carrying the tunnel lost its lease (it was taken for dead by the other nodes)',
}

export function endMessage(reason: CloseReason | string, by?: string): string {
  return Object.hasOwn(MESSAGES, reason) ? MESSAGES[reason as CloseReason](by) : `the server ended the tunnel (${reason})`
}

/** The END frame's line for a stream the device cut (reason `device-ended`, `by` the device's reason). */
const DEVICE_MESSAGES: Record<DeviceEndReason, string> = {
  'no-access': "the device ended the stream: its access mode is now no-access (set by the customer at the device)",
  'not-allowed': 'the device ended the stream: its target is no longer in the device\'s allowlist',
  'approval-ended': 'the device ended the stream: the approval it was opened under ended',
  'ended-on-device': 'someone at the device ended the stream (tether agent sessions end)',
  'agent-stopping': 'the agent on the device is stopping',
}

export function deviceEndMessage(why: DeviceEndReason): string {
  return DEVICE_MESSAGES[why]
}
