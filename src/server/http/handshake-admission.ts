import type {Socket} from 'node:net'
import type {Server as TlsServer, TLSSocket} from 'node:tls'

export interface HandshakeAdmissionOptions {
  /** TLS handshakes under way at once; the next connections wait, paused, in arrival order. */
  concurrency: number
  /** A connection that waited this long is closed unhandshaken: its client is about to give up. */
  maxWaitMs: number
  /** A handshake slot is freed after this long even if no outcome was seen (the TLS timeout + 1 s). */
  slotTimeoutMs: number
}

export interface HandshakeAdmissionStats {
  inFlight: number
  queued: number
  /** Connections closed after waiting longer than maxWaitMs. */
  expired: number
}

interface Waiting {
  raw: Socket
  at: number
}

/**
 * Admission for TLS handshakes (bench/agent-fanin, issue #15). Node accepts every queued TCP
 * connection at once and starts its handshake, so after a restart 19,000 agents' handshakes share
 * the CPU in parallel: each one takes longer than the agents' 15–20 s timeout, they give up,
 * retry with longer backoff, and the server's work on them is lost (829 opening-handshake
 * time-outs). Here at most `concurrency` handshakes run; the rest wait in arrival order without
 * costing CPU, and one that waited past `maxWaitMs` is closed instead of being handshaken for a
 * client that will not be there to finish it. Throughput is the same; latency is bounded.
 *
 * It takes the place of the TLS server's own 'connection' listener (Node documents 'connection'
 * as the way connections enter a TLS server) and hands each admitted socket to it. If the server
 * does not have exactly that one listener, nothing is changed.
 */
export function admitHandshakes(server: TlsServer, options: HandshakeAdmissionOptions): {stats(): HandshakeAdmissionStats} | null {
  const listeners = server.listeners('connection')
  if (listeners.length !== 1) return null
  const startTls = listeners[0] as (this: TlsServer, raw: Socket) => void
  const running = new Map<string, () => void>()
  const waiting: Waiting[] = []
  let head = 0
  let inFlight = 0
  let expired = 0

  const keyOf = (socket: {remoteAddress?: string; remotePort?: number}): string => `${socket.remoteAddress}|${socket.remotePort}`

  const start = (raw: Socket): void => {
    inFlight++
    const key = keyOf(raw)
    let timer: NodeJS.Timeout | undefined = setTimeout(() => release(), options.slotTimeoutMs)
    timer.unref()
    // Stays reachable from the socket's 'close' listener for the connection's life: holds nothing.
    const release = (): void => {
      if (timer === undefined) return
      clearTimeout(timer)
      timer = undefined
      if (running.get(key) === release) running.delete(key)
      inFlight--
      pump()
    }
    running.set(key, release)
    raw.once('close', release)
    startTls.call(server, raw)
  }

  const pump = (): void => {
    const now = Date.now()
    while (inFlight < options.concurrency && head < waiting.length) {
      const next = waiting[head]
      waiting[head++] = undefined as unknown as Waiting
      if (next.raw.destroyed) continue
      if (now - next.at > options.maxWaitMs) {
        expired++
        next.raw.destroy()
        continue
      }
      start(next.raw)
    }
    // Compact now and then, so the array does not grow with every connection ever queued.
    if (head > 1024 && head * 2 > waiting.length) {
      waiting.splice(0, head)
      head = 0
    }
  }

  const settled = (socket: TLSSocket): void => running.get(keyOf(socket))?.()
  server.removeListener('connection', startTls)
  server.on('connection', (raw: Socket) => {
    if (inFlight < options.concurrency && head === waiting.length) return start(raw)
    // Errors while waiting (a reset) only close it; the pump skips destroyed sockets.
    raw.on('error', () => raw.destroy())
    waiting.push({raw, at: Date.now()})
  })
  server.on('secureConnection', settled)
  server.on('tlsClientError', (_error: Error, socket: TLSSocket) => settled(socket))
  return {stats: () => ({inFlight, queued: waiting.length - head, expired})}
}
