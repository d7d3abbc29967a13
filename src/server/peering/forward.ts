import type {IncomingMessage} from 'node:http'
import {connect as tcpConnect, type Socket} from 'node:net'
import type {Duplex} from 'node:stream'
import tls from 'node:tls'
import type {FastifyBaseLogger} from 'fastify'
import type {DeviceOwner} from '../cluster/types.js'
import {closeAfter} from '../../shared/splice.js'
import {rejectUpgrade} from '../hub/upgrade.js'
import {FORWARDING_HEADERS} from './forwarded.js'
import type {NodeCredentials} from './node-cert.js'

const PEER_CONNECT_TIMEOUT_MS = 3000
const PEER_PROBE_TIMEOUT_MS = 1000

/**
 * Hands an upgrade request (a tunnel leg) to the node that owns its stream: a new TLS connection
 * to that node's peer address with this node's certificate (node-cert.ts), the request head sent
 * again with the forwarding headers (forwarded.ts), then bytes relayed both ways untouched. The
 * owner's answer, 101 or a refusal, reaches the client as the owner wrote it: this node decides
 * nothing about the stream, so authentication, tickets and the audit stay with the owner.
 *
 * When the owner vanishes mid-stream (kill -9, a lost host), the client's connection is reset,
 * not closed: an engineer's CLI then says the connection was lost instead of a normal end.
 */
export class LegForwarder {
  private readonly relays = new Set<{client: Duplex; peer: Socket}>()

  constructor(
    private readonly credentials: NodeCredentials | null,
    private readonly nodeId: () => string,
    private readonly log: FastifyBaseLogger,
  ) {}

  async forward(request: IncomingMessage, client: Duplex, head: Buffer, owner: DeviceOwner, what: string, headers: Record<string, string>): Promise<void> {
    if (!this.credentials) return refuse(client, `${what} is connected to node "${owner.nodeId}", and this node cannot forward to it: its data dir has no server CA key (tls/ca.key)`)
    if (!owner.peerAddress) return refuse(client, `${what} is connected to node "${owner.nodeId}", which has no --peer-address`)
    let peer: tls.TLSSocket
    try {
      peer = await this.dial(owner.peerAddress)
    } catch (error) {
      this.log.warn({err: error, node: owner.nodeId, peerAddress: owner.peerAddress}, 'tunnels: cannot reach the owning node')
      return refuse(client, `${what} is connected to node "${owner.nodeId}", which this node cannot reach (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
    }
    if (client.destroyed) {
      peer.destroy()
      return
    }
    peer.write(requestHead(request, {...headers, [FORWARDING_HEADERS.by]: this.nodeId()}))
    if (head.length > 0) peer.write(head)
    this.relay(client, peer, owner.peerAddress)
  }

  /** Shutdown: every relayed leg ends (the owning node audits the stream's end). */
  close(): void {
    for (const {client, peer} of this.relays) {
      client.destroy()
      peer.destroy()
    }
  }

  private async dial(peerAddress: string): Promise<tls.TLSSocket> {
    const {host, port} = splitAddress(peerAddress)
    const material = await this.credentials!.material()
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port,
        ...material,
        // Every node presents the same server certificate, made for the names clients use, not
        // for peer addresses: what is checked is that it chains to this cluster's own CA.
        checkServerIdentity: () => undefined,
        ALPNProtocols: ['http/1.1'],
      })
      socket.setTimeout(PEER_CONNECT_TIMEOUT_MS, () => socket.destroy(Object.assign(new Error(`no TLS connection within ${PEER_CONNECT_TIMEOUT_MS} ms`), {code: 'ETIMEDOUT'})))
      socket.once('secureConnect', () => {
        socket.setTimeout(0)
        socket.removeListener('error', reject)
        resolve(socket)
      })
      socket.once('error', reject)
    })
  }

  private relay(client: Duplex, peer: tls.TLSSocket, peerAddress: string): void {
    const pair = {client, peer}
    this.relays.add(pair)
    for (const socket of [client as Socket, peer]) {
      socket.allowHalfOpen = true
      socket.setNoDelay?.(true)
    }
    let peerFailed = false
    client.on('error', () => undefined) // a vanished engineer or device: 'close' follows
    peer.on('error', () => (peerFailed = true))
    // An EOF from the owner is the stream's half-close, or a killed owner: its kernel sends FIN
    // too. Which one: whether it still accepts connections (asked once, when it first matters).
    let gone: Promise<boolean> | undefined
    const ownerGone = (): Promise<boolean> => (gone ??= isGone(peerAddress))
    client.pipe(peer)
    peer.pipe(client, {end: false})
    peer.on('end', () => void ownerGone().then((yes) => (yes ? reset(client) : client.end())))
    client.on('close', () => {
      this.relays.delete(pair)
      closeAfter(client as Socket, peer)
    })
    peer.on('close', () => {
      this.relays.delete(pair)
      if (client.destroyed) return
      if (peerFailed) return reset(client)
      void ownerGone().then((yes) => {
        if (yes) return reset(client)
        closeAfter(peer, client as Socket)
      })
    })
  }
}

/** The request as the client sent it, with its forwarding headers replaced by ours. */
function requestHead(request: IncomingMessage, headers: Record<string, string>): string {
  const lines = [`${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1`]
  const ours = new Set<string>(Object.values(FORWARDING_HEADERS))
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    if (!ours.has(request.rawHeaders[i].toLowerCase())) lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`)
  }
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
  return `${lines.join('\r\n')}\r\n\r\n`
}

function refuse(client: Duplex, message: string): void {
  rejectUpgrade(client, 503, 'PEER_UNREACHABLE', message, {layer: 'network'})
}

/**
 * Ends the connection with a TCP reset, so the other end sees "connection lost", not EOF. A TLS
 * socket accepted by the server sits on the raw TCP socket in `_parent` (Node exposes reset only
 * there); without it, a plain destroy.
 */
function reset(client: Duplex): void {
  const raw = (client as {_parent?: Socket})._parent ?? (client as Socket)
  try {
    if (typeof raw.resetAndDestroy === 'function') raw.resetAndDestroy()
    else client.destroy()
  } catch {
    client.destroy() // not a TCP handle (a test's in-memory pair): closing is all that is left
  }
  client.destroy()
}

function isGone(peerAddress: string): Promise<boolean> {
  const {host, port} = splitAddress(peerAddress)
  return new Promise((resolve) => {
    const probe = tcpConnect({host, port})
    probe.setTimeout(PEER_PROBE_TIMEOUT_MS, () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('connect', () => {
      probe.destroy()
      resolve(false)
    })
    probe.once('error', () => resolve(true))
  })
}

/** HOST:PORT, with an IPv6 host in brackets ([::1]:8443). */
export function splitAddress(address: string): {host: string; port: number} {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address)
  if (!m) throw new Error(`not HOST:PORT: ${address}`)
  return {host: m[1], port: Number(m[2])}
}
