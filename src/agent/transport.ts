import {isIP} from 'node:net'
import tls from 'node:tls'
import WebSocket from 'ws'
import {bypassesProxy, connectViaProxy, type ProxyConfig} from '../shared/proxy-connect.js'
import {AGENT_CONNECT_PATH, MAX_FRAME_BYTES} from '../protocol/agent/index.js'
import {CHAIN_UNTRUSTED_CODES} from '../shared/tls-errors.js'

/**
 * The transport layer: a TLS socket to the server (direct, or through an HTTP CONNECT proxy),
 * verified against the server CA from enrollment — there is no way to turn that off — and the
 * control-channel WebSocket on top of it. The agent only ever dials out.
 */
export type TransportFailure =
  | 'proxy' // the proxy refused CONNECT, wants credentials, or could not be reached
  | 'untrusted' // the server's certificate does not chain to the enrolled server CA, or names another host
  | 'network' // refused, reset, DNS, timeouts
  | 'unauthorized' // the server did not accept the device certificate (HTTP 401 at upgrade)
  | 'revoked' // the server knows this device and refuses it (HTTP 403 at upgrade)
  | 'protocol' // anything else at the HTTP/WebSocket level

export class TransportError extends Error {
  constructor(
    readonly kind: TransportFailure,
    message: string,
    options?: {cause?: unknown},
  ) {
    super(message, options)
  }
}

export interface DialSettings {
  server: URL
  /** PEM: device key, certificate, and the server CA that is the only trust anchor. */
  key: string
  cert: string
  serverCa: string
  proxy?: ProxyConfig
  timeoutMs: number
}

/** What the connection layer needs from a transport: an open control channel. Tests inject fakes. */
export interface Dialer {
  dial(): Promise<WebSocket>
}

// For the agent an expired or misnamed server certificate is as untrusted as a foreign CA.
const UNTRUSTED = new Set([...CHAIN_UNTRUSTED_CODES, 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID'])

export class TlsWebSocketDialer implements Dialer {
  constructor(private readonly settings: DialSettings) {}

  async dial(): Promise<WebSocket> {
    const socket = await this.connectTls()
    return this.upgrade(socket)
  }

  /** The route to the server: through the proxy unless NO_PROXY says otherwise. */
  describeRoute(): string {
    const {server, proxy} = this.settings
    return proxy && !bypassesProxy(server.hostname, port(server), proxy.noProxy) ? `via proxy ${proxy.display}` : 'direct'
  }

  /**
   * A verified mTLS socket to the server by the same route as the control channel (proxy or
   * direct). Log uploads use it for their own HTTPS connection. `servername` replaces the TLS
   * server name sent (a tunnel's data leg names its node, for the balancer to route on); the
   * certificate is still verified against the configured server host, never against that name.
   */
  async connectTls(options: {servername?: string} = {}): Promise<tls.TLSSocket> {
    const {server, proxy, timeoutMs} = this.settings
    const host = server.hostname.replace(/^\[|\]$/g, '')
    let raw: import('node:net').Socket | undefined
    if (proxy && !bypassesProxy(host, port(server), proxy.noProxy)) {
      const {result, socket} = await connectViaProxy(proxy, proxy.host, host, port(server), timeoutMs)
      if (!socket) {
        const answer = result.statusCode ? `${result.statusCode} ${result.statusText ?? ''}`.trim() : (result.error ?? result.status)
        const what = result.status === 'auth-required' ? 'proxy wants other credentials for CONNECT' : result.status === 'refused' || result.status === 'upstream-failed' ? 'proxy refused CONNECT' : 'proxy failed'
        throw new TransportError('proxy', `${what}: ${answer} (${proxy.display})`)
      }
      raw = socket
    }
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        ...(raw ? {socket: raw} : {port: port(server)}),
        host,
        servername: options.servername ?? (isIP(host) ? undefined : host),
        ...(options.servername ? {checkServerIdentity: (_name: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(host, cert)} : {}),
        ca: this.settings.serverCa,
        key: this.settings.key,
        cert: this.settings.cert,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['http/1.1'],
      })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new TransportError('network', `no TLS handshake with ${server.host} within ${timeoutMs}ms`))
      }, timeoutMs)
      socket.once('secureConnect', () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        resolve(socket)
      })
      socket.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        socket.destroy()
        raw?.destroy()
        reject(classifySocketError(server, error))
      })
    })
  }

  private upgrade(socket: tls.TLSSocket): Promise<WebSocket> {
    const {server, timeoutMs} = this.settings
    return new Promise((resolve, reject) => {
      const url = new URL(AGENT_CONNECT_PATH, server).toString().replace(/^https:/, 'wss:')
      const ws = new WebSocket(url, {
        // The socket is already verified and connected; ws only speaks HTTP/WebSocket over it.
        createConnection: () => socket,
        maxPayload: MAX_FRAME_BYTES,
        handshakeTimeout: timeoutMs,
        perMessageDeflate: false,
      })
      const fail = (error: TransportError): void => {
        ws.removeAllListeners()
        ws.on('error', () => undefined)
        ws.terminate()
        reject(error)
      }
      ws.once('unexpected-response', (_req, res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body = (body + d).slice(0, 2048)))
        res.on('end', () => {
          const message = serverMessage(body) ?? res.statusMessage ?? ''
          const status = res.statusCode ?? 0
          if (status === 403) fail(new TransportError('revoked', `device certificate revoked or unknown: the server refused the connection (403 ${message})`.trim()))
          else if (status === 401) fail(new TransportError('unauthorized', `the server did not accept the device certificate (401 ${message})`.trim()))
          else fail(new TransportError('protocol', `the server refused the control channel: HTTP ${status} ${message}`.trim()))
        })
        res.on('error', () => fail(new TransportError('protocol', `the server refused the control channel: HTTP ${res.statusCode}`)))
      })
      ws.once('open', () => {
        ws.removeAllListeners('error')
        ws.removeAllListeners('unexpected-response')
        resolve(ws)
      })
      ws.once('error', (error: NodeJS.ErrnoException) => fail(classifySocketError(server, error)))
    })
  }
}

function port(server: URL): number {
  return Number(server.port || 443)
}

function serverMessage(body: string): string | undefined {
  try {
    return (JSON.parse(body) as {error?: {message?: string}}).error?.message
  } catch {
    return body.trim().slice(0, 200) || undefined
  }
}

export function classifySocketError(server: URL, error: NodeJS.ErrnoException): TransportError {
  const code = error.code ?? ''
  if (error instanceof TransportError) return error
  if (UNTRUSTED.has(code)) return new TransportError('untrusted', `server certificate not trusted: ${code} (${error.message}); the agent trusts only the server CA from enrollment`, {cause: error})
  if (code === 'ECONNREFUSED') return new TransportError('network', `${server.host}: connection refused`, {cause: error})
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new TransportError('network', `${server.hostname}: host name not found`, {cause: error})
  if (code === 'ECONNRESET' || code === 'EPIPE') return new TransportError('network', `${server.host}: connection reset`, {cause: error})
  if (/alert|handshake|certificate/i.test(error.message)) return new TransportError('unauthorized', `TLS handshake failed: ${error.message}`, {cause: error})
  return new TransportError('network', `${server.host}: ${code ? `${code}: ` : ''}${error.message}`, {cause: error})
}
