import {BlockList, isIPv4, isIPv6, type Socket} from 'node:net'
import type {Server as TlsServer, TLSSocket} from 'node:tls'

/**
 * PROXY protocol version 2 (haproxy's `send-proxy-v2`): a balancer in TCP mode, which must not end
 * TLS because agents authenticate with their certificates, prepends the client's address to each
 * connection in a binary header. Without it every request, login and tunnel looks as if it came
 * from the balancer: one rate-limit budget for all clients, and the balancer's address in the audit.
 *
 * Only connections from the configured balancer addresses are read this way, and from those the
 * header is required (fail closed): anyone else could otherwise choose their apparent address.
 * The spec is short and fixed (haproxy's doc/proxy-protocol.txt, section 2.2); this reads the
 * 16-byte preamble and the address block, and skips TLVs.
 */
const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const PREAMBLE = 16
/** A header beyond this is not one haproxy sends (addresses and a few TLVs fit in far less). */
const MAX_HEADER = 1024

export type ProxyHeader =
  | {kind: 'incomplete'}
  | {kind: 'invalid'; why: string}
  /** LOCAL: the balancer's own connection (a health check): its own address stands. */
  | {kind: 'local'; length: number}
  | {kind: 'proxy'; length: number; address: string; port: number; family: 'IPv4' | 'IPv6'}

/** Reads a version 2 header at the start of `data` (what has arrived so far). */
export function readProxyHeader(data: Buffer): ProxyHeader {
  const seen = Math.min(data.length, SIGNATURE.length)
  if (!data.subarray(0, seen).equals(SIGNATURE.subarray(0, seen))) return {kind: 'invalid', why: 'no PROXY protocol v2 signature'}
  if (data.length < PREAMBLE) return {kind: 'incomplete'}
  const versionCommand = data[12]
  if (versionCommand >> 4 !== 2) return {kind: 'invalid', why: `PROXY protocol version ${versionCommand >> 4}, expected 2`}
  const length = PREAMBLE + data.readUInt16BE(14)
  if (length > MAX_HEADER) return {kind: 'invalid', why: `PROXY header of ${length} bytes`}
  if (data.length < length) return {kind: 'incomplete'}
  const command = versionCommand & 0x0f
  if (command === 0) return {kind: 'local', length}
  if (command !== 1) return {kind: 'invalid', why: `PROXY command ${command}`}
  const family = data[13] >> 4
  const block = data.subarray(PREAMBLE, length)
  // Source address, destination address, source port, destination port.
  if (family === 1 && block.length >= 12) return {kind: 'proxy', length, family: 'IPv4', address: [...block.subarray(0, 4)].join('.'), port: block.readUInt16BE(8)}
  if (family === 2 && block.length >= 36) return {kind: 'proxy', length, family: 'IPv6', address: ipv6(block.subarray(0, 16)), port: block.readUInt16BE(32)}
  // UNSPEC or UNIX: no internet address to use; the balancer's stands, as for LOCAL.
  if (family === 0 || family === 3) return {kind: 'local', length}
  return {kind: 'invalid', why: `PROXY address family ${family}`}
}

function ipv6(bytes: Buffer): string {
  const text = Array.from({length: 8}, (_, i) => bytes.readUInt16BE(i * 2).toString(16)).join(':')
  // An IPv4-mapped address reads as Node reports such peers.
  if (text.startsWith('0:0:0:0:0:ffff:')) return `::ffff:${[...bytes.subarray(12, 16)].join('.')}`
  return new URL(`http://[${text}]/`).hostname.replace(/^\[|\]$/g, '')
}

/** "10.0.0.5", "10.0.1.0/24", "fd00::/8": a BlockList of them; throws naming a bad entry. */
export function balancerList(entries: readonly string[]): BlockList {
  const list = new BlockList()
  for (const entry of entries) {
    const [address, bits] = entry.split('/')
    const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null
    const prefix = bits === undefined ? undefined : Number(bits)
    if (!type || (prefix !== undefined && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= (type === 'ipv4' ? 32 : 128)))) {
      throw new Error(`"${entry}" is not an address or CIDR`)
    }
    if (prefix === undefined) list.addAddress(address, type)
    else list.addSubnet(address, prefix, type)
  }
  return list
}

export interface ProxyProtocolOptions {
  /** The balancers: connections from them must start with a v2 header. */
  from: BlockList
  /** A balancer connection whose header has not arrived by then is closed. */
  timeoutMs: number
  onRefused?: (remote: string, why: string) => void
}

/**
 * Puts a header-reading stage in front of the TLS server's 'connection' listener (as
 * handshake-admission.ts does, which it then wraps), and gives each TLS socket the client's
 * address once its handshake is done, so request.ip, the rate limit and the audit see the client.
 * Throws (and changes nothing) when the server does not have exactly one such listener: serving
 * the balancers' connections without reading their headers would break every one of them.
 */
export function acceptProxyProtocol(server: TlsServer, options: ProxyProtocolOptions): void {
  const listeners = server.listeners('connection')
  if (listeners.length !== 1) throw new Error(`proxyProtocolFrom: cannot read PROXY headers (the TLS server has ${listeners.length} connection listeners, expected 1)`)
  const next = listeners[0] as (this: TlsServer, raw: Socket) => void
  // Balancer address|port of a live connection → the client behind it.
  const clients = new Map<string, {address: string; port: number; family: string}>()
  const keyOf = (s: {remoteAddress?: string; remotePort?: number}): string => `${s.remoteAddress}|${s.remotePort}`

  server.removeAllListeners('connection')
  server.on('connection', (raw: Socket) => {
    if (!raw.remoteAddress || !options.from.check(raw.remoteAddress, raw.remoteFamily === 'IPv6' ? 'ipv6' : 'ipv4')) return next.call(server, raw)
    const key = keyOf(raw)
    let buffered = Buffer.alloc(0)
    const refuse = (why: string): void => {
      cleanup()
      options.onRefused?.(raw.remoteAddress ?? '?', why)
      raw.destroy()
    }
    const timer = setTimeout(() => refuse(`no PROXY header within ${options.timeoutMs} ms`), options.timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      raw.off('data', onData)
    }
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk])
      const header = readProxyHeader(buffered)
      if (header.kind === 'incomplete') return
      if (header.kind === 'invalid') return refuse(header.why)
      cleanup()
      raw.pause()
      if (header.kind === 'proxy') {
        clients.set(key, {address: header.address, port: header.port, family: header.family})
        raw.once('close', () => clients.delete(key))
      }
      // What followed the header (the TLS ClientHello) is read again by TLS.
      if (buffered.length > header.length) raw.unshift(buffered.subarray(header.length))
      next.call(server, raw)
    }
    raw.on('data', onData)
    raw.on('error', () => cleanup())
  })
  // After the other listeners: handshake admission frees the slot it keyed by the balancer's
  // address and port (set the client's first and the slot stayed held while the connection
  // lived). Still before any request is read: 'secureConnection' runs its listeners in one go,
  // and the HTTP parser only reads on later 'data' events.
  server.on('secureConnection', (socket: TLSSocket) => {
    const client = clients.get(keyOf(socket))
    if (!client) return
    for (const [name, value] of [['remoteAddress', client.address], ['remotePort', client.port], ['remoteFamily', client.family]] as const) {
      Object.defineProperty(socket, name, {value, configurable: true})
    }
  })
}
