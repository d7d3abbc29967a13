import type {CloseReason} from './live.js'

/**
 * The human line of an END frame (tunnel-frames.ts): why the server ended the stream, as the
 * engineer's CLI prints it. The reason itself travels beside it; the CLI picks its exit code
 * from the reason, never from this text.
 */
export function endMessage(reason: CloseReason | string, by?: string): string {
  switch (reason) {
    case 'finished':
      return 'the stream ended normally'
    case 'device-gone':
      return 'the device cut the stream (its access policy or someone at the device ended it) or its connection to the server was lost'
    case 'engineer-gone':
      return 'the engineer disconnected'
    case 'closed-by-user':
      return `the tunnel was closed by ${by ?? 'a user'} on the server`
    case 'user-disabled':
      return 'your user was disabled on the server'
    case 'credentials-revoked':
      return 'the credentials the tunnel was opened with were revoked or expired (session logged out, API token revoked)'
    case 'device-revoked':
      return 'the device was revoked on the server'
    case 'idle':
      return 'the tunnel was idle for too long'
    case 'server-shutdown':
      return 'the server node carrying the tunnel is shutting down'
    case 'node-lost':
      return 'the server node carrying the tunnel lost its lease (it was taken for dead by the other nodes)'
    default:
      return `the server ended the tunnel (${reason})`
  }
}
