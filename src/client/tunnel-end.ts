import type {Writable} from 'node:stream'
import type {TLSSocket} from 'node:tls'
import {type ExitCodeValue, ExitCode, TetherError} from '../shared/errors.js'
import {type EndFrame, FrameReader} from '../shared/tunnel-frames.js'

/** How a stream ended, as the engineer's side saw it. */
export type StreamOutcome = {ok: true} | {ok: false; error: TetherError}

/** What a server's close reason means to the engineer: the code and exit code the CLI ends with. */
const ENDED_BY_SERVER: Record<string, {code: string; exitCode: ExitCodeValue; suggestion?: string}> = {
  'closed-by-user': {code: 'TUNNEL_CLOSED', exitCode: ExitCode.FAILED},
  'device-gone': {code: 'TUNNEL_DEVICE_GONE', exitCode: ExitCode.UNAVAILABLE, suggestion: 'Open the tunnel again once the device is back online (tether devices show SERIAL).'},
  'device-revoked': {code: 'DEVICE_REVOKED', exitCode: ExitCode.CONFLICT},
  'credentials-revoked': {code: 'TUNNEL_CREDENTIALS_REVOKED', exitCode: ExitCode.AUTH, suggestion: 'Run `tether login` (or use a valid API token), then open the tunnel again.'},
  'user-disabled': {code: 'TUNNEL_CREDENTIALS_REVOKED', exitCode: ExitCode.AUTH},
  idle: {code: 'TUNNEL_IDLE', exitCode: ExitCode.FAILED, suggestion: 'Open the tunnel again; the server ends streams with no traffic after its idle timeout.'},
  'server-shutdown': {code: 'TUNNEL_LOST', exitCode: ExitCode.UNAVAILABLE, suggestion: 'Open the tunnel again: another node takes over once the device has reconnected.'},
  // The device cut it (its access mode, allowlist or approval; someone at the device; its agent stopping).
  'device-ended': {code: 'TUNNEL_ENDED_BY_DEVICE', exitCode: ExitCode.FORBIDDEN, suggestion: 'Ask the customer at the device (tether agent status shows its access mode and sessions).'},
  'node-lost': {code: 'TUNNEL_LOST', exitCode: ExitCode.UNAVAILABLE, suggestion: 'Open the tunnel again: another node takes over once the device has reconnected.'},
}

/** The server ended the stream for `end.reason` (not `finished`): one line naming the reason. */
export function tunnelEnded(end: EndFrame): TetherError {
  const known = ENDED_BY_SERVER[end.reason] ?? {code: 'TUNNEL_CLOSED', exitCode: ExitCode.FAILED}
  return new TetherError(`the tunnel ended: ${end.message} (${end.reason})`, {
    code: known.code,
    exitCode: known.exitCode,
    details: {reason: end.reason, ...(end.by ? {by: end.by} : {})},
    suggestions: known.suggestion ? [known.suggestion] : [],
  })
}

/** The stream's connection closed or failed with no END frame: the node carrying it is gone. */
export function tunnelLost(why: string): TetherError {
  return new TetherError(`the tunnel ended: its connection was lost (${why}): the server node carrying it stopped, or the network failed`, {
    code: 'TUNNEL_LOST',
    exitCode: ExitCode.UNAVAILABLE,
    suggestions: ['Open the tunnel again: another node takes over once the device has reconnected.'],
  })
}

/**
 * Delivers the device's bytes from `socket` to `out` (deframed when the server frames them) and
 * settles once the connection is closed and every byte read is delivered; `out` is ended on a
 * normal end only (`endOut`). `hungUp()` says whether
 * our side ended it (then any end is fine). Without framing only a failed connection is a loss;
 * with it, any end without an END frame is one (a killed node's FIN through a TCP balancer).
 */
export function deliver(socket: TLSSocket, framed: boolean, out: Writable, hungUp: () => boolean, endOut = true): Promise<StreamOutcome> {
  return new Promise((resolve) => {
    let failure: Error | undefined
    socket.on('error', (error) => {
      failure ??= error
      socket.destroy()
    })
    // A connection that ended cleanly but without END (our writes may then fail with EPIPE) says so.
    const why = (): string =>
      failure && !(framed && socket.readableEnded) ? ((failure as NodeJS.ErrnoException).code ?? failure.message) : 'closed without an end-of-stream frame'
    if (!framed) {
      socket.pipe(out, {end: endOut})
      socket.once('close', () => resolve(failure && !hungUp() ? {ok: false, error: tunnelLost(why())} : {ok: true}))
      return
    }
    const reader = new FrameReader()
    reader.on('error', (error) => {
      failure ??= error
      socket.destroy()
    })
    // `out` is ended only once the verdict is a normal end: a cut stream must not look finished.
    socket.pipe(reader).pipe(out, {end: false})
    let settled = false
    const settle = (): void => {
      if (settled) return
      settled = true
      const end = reader.endFrame
      if (hungUp() || end?.reason === 'finished') {
        if (endOut && !out.destroyed) out.end()
        resolve({ok: true})
      } else {
        resolve({ok: false, error: end ? tunnelEnded(end) : tunnelLost(why())})
      }
    }
    socket.once('close', () => {
      // Bytes already read may still wait in the reader (a slow `out`): the verdict comes once they are delivered.
      if (hungUp() || reader.readableEnded || reader.destroyed) return settle()
      reader.once('end', settle)
      reader.once('close', settle)
      if (!reader.writableEnded) reader.end()
    })
  })
}
