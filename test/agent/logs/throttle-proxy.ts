import {connect, createServer, type AddressInfo, type Server, type Socket} from 'node:net'
import {Transform} from 'node:stream'

/**
 * An HTTP CONNECT proxy on loopback that slows the device → server direction to a fixed rate,
 * so an end-to-end test can interrupt an upload in the middle. It only tunnels to 127.0.0.1.
 */
export class ThrottleProxy {
  private server!: Server
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(private readonly bytesPerSecond: number) {}

  static async start(bytesPerSecond: number): Promise<ThrottleProxy> {
    const proxy = new ThrottleProxy(bytesPerSecond)
    proxy.server = createServer((client) => proxy.handle(client))
    await new Promise<void>((r) => proxy.server.listen(0, '127.0.0.1', r))
    proxy.port = (proxy.server.address() as AddressInfo).port
    return proxy
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((r) => this.server.close(() => r()))
  }

  private handle(client: Socket): void {
    this.sockets.add(client)
    client.on('close', () => this.sockets.delete(client))
    client.on('error', () => client.destroy())
    let head = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      client.removeListener('data', onData)
      const m = /^CONNECT 127\.0\.0\.1:(\d+) HTTP\/1\.[01]/.exec(head.toString('latin1'))
      if (!m) return void client.end('HTTP/1.1 403 Forbidden\r\n\r\n')
      const upstream = connect({host: '127.0.0.1', port: Number(m[1])}, () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n')
        const rest = head.subarray(end + 4)
        if (rest.length > 0) upstream.write(rest)
        client.pipe(this.throttle()).pipe(upstream)
        upstream.pipe(client)
      })
      this.sockets.add(upstream)
      upstream.on('close', () => (this.sockets.delete(upstream), client.destroy()))
      upstream.on('error', () => client.destroy())
      client.on('close', () => upstream.destroy())
    }
    client.on('data', onData)
  }

  private throttle(): Transform {
    const rate = this.bytesPerSecond
    return new Transform({
      transform(chunk: Buffer, _enc, done) {
        setTimeout(() => done(null, chunk), Math.ceil((chunk.length / rate) * 1000))
      },
    })
  }
}
