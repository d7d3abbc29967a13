import {isIP} from 'node:net'
import tls from 'node:tls'
import {TUNNEL_UPGRADE_PROTOCOL, tunnelConnectPath} from '../protocol/agent/tunnels.js'
import {errorCodeEntry, ExitCode, TetherError} from '../shared/errors.js'
import {FRAMING_HEADER, FRAMING_VERSION} from '../shared/tunnel-frames.js'
import {UpgradeRefusedError, upgradeSocket} from '../shared/upgrade-client.js'
import type {ApiClient} from './api-client.js'
import {errorFromNetwork} from './http-errors.js'
import {connectOptions, type Trust} from './trust.js'

export interface StreamRequest {
  serial: string
  port: number
  host?: string
  reason?: string
}

/** A live stream: raw bytes to and from the device's target. */
export interface OpenedStream {
  socket: tls.TLSSocket
  /** The server's id of the stream (`tunnels list`, `tunnels close`). */
  id: string
  /** The server confirmed framing: device bytes come as frames and the stream ends with an END frame (tunnel-frames.ts). */
  framed: boolean
}

const SETUP_TIMEOUT_MS = 15_000

/**
 * The engineer's leg: one new TLS connection per stream to the server's HTTPS port (trust as for
 * every API call), upgraded with the user's token. An expired access token is refreshed once and
 * the stream asked again. Refusals become typed errors that say which layer refused.
 */
export class TunnelDialer {
  constructor(
    private readonly client: ApiClient,
    private readonly trust: Trust,
  ) {}

  async open(request: StreamRequest): Promise<OpenedStream> {
    try {
      return await this.attempt(request)
    } catch (error) {
      if (!(error instanceof UpgradeRefusedError && error.status === 401 && this.client.refreshToken)) throw refusalError(error, this.client.server, request)
      await this.client.refresh()
      try {
        return await this.attempt(request)
      } catch (again) {
        throw refusalError(again, this.client.server, request)
      }
    }
  }

  private async attempt(request: StreamRequest): Promise<OpenedStream> {
    const url = new URL(this.client.server)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({...connectOptions(this.trust), host, port: Number(url.port || 443), servername: isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1']})
      s.once('secureConnect', () => {
        s.removeAllListeners('error')
        resolve(s)
      })
      s.once('error', reject)
    })
    socket.setNoDelay(true)
    const query = new URLSearchParams({port: String(request.port), ...(request.host ? {host: request.host} : {}), ...(request.reason ? {reason: request.reason} : {})})
    const {head} = await upgradeSocket(socket, {
      host: url.host,
      path: `${tunnelConnectPath(request.serial)}?${query}`,
      protocol: TUNNEL_UPGRADE_PROTOCOL,
      headers: {authorization: `Bearer ${this.client.accessToken ?? ''}`, ...(rawStream() ? {} : {[FRAMING_HEADER]: FRAMING_VERSION})},
      timeoutMs: SETUP_TIMEOUT_MS,
    })
    const framed = new RegExp(`^${FRAMING_HEADER}: *${FRAMING_VERSION} *$`, 'im').test(head)
    return {socket, id: /^x-tether-tunnel: *([A-Za-z0-9_-]+)/im.exec(head)?.[1] ?? '', framed}
  }
}

/** TETHER_TUNNEL_FRAMING=0: raw bytes, no end-of-stream frame (debugging, A/B benches); the CLI then cannot tell a lost node behind a balancer from a normal end. */
function rawStream(): boolean {
  return process.env.TETHER_TUNNEL_FRAMING === '0'
}

/**
 * The refusal as the error the command renders: the exit code comes from the one table of codes
 * (ERROR_CODES), the layer that refused is in the message and the details.
 */
export function refusalError(error: unknown, server: string, request: StreamRequest): TetherError {
  if (!(error instanceof UpgradeRefusedError)) return errorFromNetwork(server, error)
  const details = {status: error.status, serverCode: error.code, ...(error.layer ? {layer: error.layer} : {})}
  const message = `${error.status === 401 ? 'not authenticated: ' : ''}${error.message}${error.layer ? ` [${error.layer}]` : ''}`
  const suggestions =
    error.code === 'APPROVAL_REQUIRED' ? [`Ask for access: tether access request ${request.serial} --port ${request.port} --reason "…" --for 2h`]
    : error.status === 401 ? ['Run `tether login` (or set TETHER_TOKEN).']
    : []
  const exitCode = errorCodeEntry(error.code)?.exitCode ?? (error.status >= 500 || error.status === 0 ? ExitCode.UNAVAILABLE : ExitCode.FAILED)
  return new TetherError(message, {code: error.code, exitCode, details, suggestions})
}
