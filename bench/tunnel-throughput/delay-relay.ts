import {connect, createServer, type Server, type Socket} from 'node:net'

/**
 * A TCP relay on loopback that holds every chunk for `oneWayMs` before passing it on, each way,
 * in order: added latency for a leg where netem is not available (this kernel has tbf/htb but
 * no netem). TCP ends at the relay, so the kernel's own windows never see the delay; to keep a
 * limit like the one TCP's receive window would impose over that RTT, each direction holds at
 * most `capBytes` (queued plus not yet written): the source is paused above it. An application
 * window (an SSH channel's) does see the full RTT, since its window updates are delayed too.
 */
export class DelayRelay {
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(
    private readonly targetPort: number,
    private readonly oneWayMs: number,
    private readonly capBytes: number,
  ) {
    this.server = createServer({allowHalfOpen: true, pauseOnConnect: true}, (inbound) => this.relay(inbound))
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as {port: number}).port
    return this.port
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private relay(inbound: Socket): void {
    const outbound = connect({port: this.targetPort, host: '127.0.0.1', allowHalfOpen: true, noDelay: true})
    inbound.setNoDelay(true)
    for (const s of [inbound, outbound]) {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
      // A reset on one side ends both ('close' follows the error). A clean close does not: the
      // other direction may still hold chunks on their way, and ends by itself after them.
      s.on('error', () => undefined)
      s.on('close', (hadError) => {
        if (hadError) (s === inbound ? outbound : inbound).destroy()
      })
    }
    outbound.once('connect', () => {
      this.direction(inbound, outbound)
      this.direction(outbound, inbound)
      inbound.resume()
    })
  }

  /** One direction: chunks wait until their time in a FIFO; the source pauses above the cap. */
  private direction(from: Socket, to: Socket): void {
    const queue: Array<{due: number; chunk: Buffer | null}> = []
    let queued = 0
    let timer: NodeJS.Timeout | undefined
    const held = (): number => queued + to.writableLength
    const flush = (): void => {
      timer = undefined
      const now = performance.now()
      while (queue.length > 0 && queue[0].due <= now) {
        const {chunk} = queue.shift()!
        if (chunk === null) {
          to.end()
          continue
        }
        queued -= chunk.length
        if (!to.destroyed) to.write(chunk)
      }
      if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0].due - performance.now()))
      if (from.isPaused() && held() < this.capBytes) from.resume()
    }
    const schedule = (item: {due: number; chunk: Buffer | null}): void => {
      queue.push(item)
      timer ??= setTimeout(flush, this.oneWayMs)
    }
    from.on('data', (chunk: Buffer) => {
      queued += chunk.length
      schedule({due: performance.now() + this.oneWayMs, chunk})
      if (held() >= this.capBytes) from.pause()
    })
    from.on('end', () => schedule({due: performance.now() + this.oneWayMs, chunk: null}))
    to.on('drain', () => {
      if (from.isPaused() && held() < this.capBytes) from.resume()
    })
  }
}
