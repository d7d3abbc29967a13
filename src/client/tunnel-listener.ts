import {createServer, type Server, type Socket} from 'node:net'
import {PassThrough} from 'node:stream'
import {UsageError} from '../shared/errors.js'
import {reportFor} from '../shared/error-report.js'
import type {StreamRequest, TunnelDialer} from './tunnel-dial.js'
import {deliver} from './tunnel-end.js'

export interface ListenAddress {
  host: string
  port: number
}

/** What `tunnels open` shows: streams now and in total, bytes each way, failures. */
export interface ListenerStats {
  active: number
  total: number
  failed: number
  bytesToDevice: number
  bytesFromDevice: number
  lastError: string | null
}

/** How long a finished stream's last bytes may take to reach the local connection. */
const LOCAL_DRAIN_MS = 10_000

/** "127.0.0.1:15900", "[::1]:15900", "15900" (loopback), or ":15900" (loopback). */
export function parseListen(text: string | undefined, flag = '--listen'): ListenAddress {
  if (text === undefined) return {host: '127.0.0.1', port: 0}
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*))?:?(\d{1,5})$/.exec(text.trim())
  const port = m ? Number(m[3]) : NaN
  if (!m || !(port >= 0 && port <= 65535)) throw new UsageError(`${flag}: expected HOST:PORT (e.g. 127.0.0.1:15900) or a port, got "${text}"`)
  return {host: m[1] ?? (m[2] || '127.0.0.1'), port}
}

/**
 * `tunnels open`: a local listener whose every accepted connection becomes one tunnel stream
 * (its own connections end to end). A stream the server or device refuses closes that local
 * connection and is counted; the listener keeps serving.
 */
export class TunnelListener {
  readonly stats: ListenerStats = {active: 0, total: 0, failed: 0, bytesToDevice: 0, bytesFromDevice: 0, lastError: null}
  private readonly server: Server
  private readonly sockets = new Set<Socket>()

  constructor(
    private readonly dialer: TunnelDialer,
    private readonly request: StreamRequest,
    private readonly onChange: () => void = () => undefined,
  ) {
    this.server = createServer({allowHalfOpen: true, pauseOnConnect: true, noDelay: true}, (local) => void this.serve(local))
  }

  /** Listens; the error names --listen when the address is taken or not ours. */
  listen(address: ListenAddress): Promise<ListenAddress> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (error: NodeJS.ErrnoException) => {
        const why = error.code === 'EADDRINUSE' ? 'is already in use' : error.code === 'EADDRNOTAVAIL' ? 'is not an address of this machine' : error.code === 'EACCES' ? 'needs privileges (pick a port above 1023)' : error.message
        reject(new UsageError(`--listen: ${address.host}:${address.port} ${why}`, {suggestions: ['Pick another local port, e.g. --listen 127.0.0.1:0 for any free one.']}))
      })
      this.server.listen(address.port, address.host, () => {
        const bound = this.server.address() as {address: string; port: number}
        resolve({host: bound.address, port: bound.port})
      })
    })
  }

  /** Stops listening and ends every stream. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private async serve(local: Socket): Promise<void> {
    this.sockets.add(local)
    local.on('error', () => undefined)
    this.stats.total++
    this.stats.active++
    this.onChange()
    try {
      const {socket, framed} = await this.dialer.open(this.request)
      // The local client left while the stream was set up: its 'close' has fired already.
      if (local.destroyed) {
        socket.destroy()
        return
      }
      local.on('data', (chunk: Buffer) => (this.stats.bytesToDevice += chunk.length))
      let localGone = false
      local.on('close', () => {
        localGone = true
        socket.destroy()
      })
      local.pipe(socket)
      local.resume()
      // The device's bytes (deframed) are counted as they reach the local connection.
      const counted = new PassThrough()
      counted.on('data', (chunk: Buffer) => (this.stats.bytesFromDevice += chunk.length))
      counted.pipe(local)
      const outcome = await deliver(socket, framed, counted, () => localGone)
      // The local side learns of a lost or cut stream by a reset, of a finished one by an end (sent once delivered).
      if (!outcome.ok) {
        if (!local.destroyed) local.resetAndDestroy()
        throw outcome.error
      }
      if (!local.destroyed) {
        // Both ways are done: the local connection goes once what is queued for it is delivered.
        const timer = setTimeout(() => local.destroy(), LOCAL_DRAIN_MS).unref()
        if (local.writableFinished) local.destroy()
        else local.once('finish', () => local.destroy())
        await new Promise((resolve) => local.once('close', resolve))
        clearTimeout(timer)
      }
    } catch (error) {
      this.stats.failed++
      this.stats.lastError = reportFor(error as Error).message
      local.destroy()
    } finally {
      this.sockets.delete(local)
      this.stats.active--
      this.onChange()
    }
  }
}
