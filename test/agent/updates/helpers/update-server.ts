import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {AGENT_UPDATES_METADATA_PATH, AGENT_UPDATES_TARGETS_PATH} from '../../../../src/protocol/updates/index.js'
import type {TestTufRepo} from './tuf-repo.js'

/**
 * The server's update routes as an agent sees them, on loopback, serving a real signed repository
 * — and misbehaving on request: extra bytes after a package (endless data), a connection cut after
 * N bytes (a download killed half way), Range ignored, metadata replaced. It counts the package
 * bytes it served and the Range headers it was asked, so a test sees whether a resume started over.
 */
export interface Misbehaviour {
  /** Bytes appended after a package's real content. */
  extraBytes?: number
  /** Cut the connection after this many body bytes of a package response. */
  cutAfter?: number
  /** Send this many body bytes of a package, then hold the response open (a slow link the test kills the agent on). */
  stallAfter?: number
  /** Answer 200 with the whole file even when asked for a Range. */
  ignoreRange?: boolean
  /** Answer package requests with this status and a body (a rate limit, a proxy error page). */
  packageStatus?: number
  /** Serve these bytes instead of a metadata file (name as in the repo: 'timestamp.json'). */
  metadata?: Record<string, Buffer>
}

export class FakeUpdateServer {
  private server?: Server
  misbehave: Misbehaviour = {}
  packageBytesServed = 0
  readonly ranges: (string | null)[] = []
  readonly metadataRequests: string[] = []

  constructor(public repo: TestTufRepo) {}

  async start(): Promise<URL> {
    this.server = createServer((req, res) => this.handle(req, res))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    return new URL(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}`)
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise((resolve) => this.server?.close(resolve))
  }

  /** The routes; public so that an mTLS fake control server can serve them on its own origin. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    if (url.startsWith(`${AGENT_UPDATES_METADATA_PATH}/`)) {
      const name = url.slice(AGENT_UPDATES_METADATA_PATH.length + 1)
      this.metadataRequests.push(name)
      const body = this.misbehave.metadata?.[name] ?? this.repo.files.get(name)
      if (!body) return void res.writeHead(404).end()
      return void res.writeHead(200, {'content-type': 'application/json', 'content-length': body.length}).end(body)
    }
    if (url.startsWith(`${AGENT_UPDATES_TARGETS_PATH}/`)) return this.servePackage(url.slice(AGENT_UPDATES_TARGETS_PATH.length + 1), req, res)
    res.writeHead(404).end()
  }

  private servePackage(path: string, req: IncomingMessage, res: ServerResponse): void {
    const pkg = this.repo.packages.get(path)
    if (!pkg) return void res.writeHead(404).end()
    const range = req.headers.range ?? null
    this.ranges.push(range)
    if (this.misbehave.packageStatus) {
      // A body still arriving when the agent gives up on the answer (it must not wait for it, nor choke on it).
      res.writeHead(this.misbehave.packageStatus, {'content-type': 'text/plain'}).write('slow down\n'.repeat(1000))
      return void setTimeout(() => res.end('slow down\n'), 300)
    }
    const m = /^bytes=(\d+)-$/.exec(range ?? '')
    const start = m && !this.misbehave.ignoreRange ? Number(m[1]) : 0
    let body = pkg.subarray(start)
    if (this.misbehave.extraBytes) body = Buffer.concat([body, Buffer.alloc(this.misbehave.extraBytes, 0x41)])
    const headers = start > 0 ? {'content-range': `bytes ${start}-${pkg.length - 1}/${pkg.length}`} : {}
    res.writeHead(start > 0 ? 206 : 200, {'content-type': 'application/octet-stream', ...headers})
    const stall = this.misbehave.stallAfter
    if (stall !== undefined && stall < body.length) {
      this.packageBytesServed += stall
      res.write(body.subarray(0, stall))
      return
    }
    const cut = this.misbehave.cutAfter
    if (cut !== undefined && cut < body.length) {
      this.packageBytesServed += cut
      // Half the bytes, flushed, then the connection dies (as when the agent is killed or the link drops).
      res.write(body.subarray(0, cut), () => setImmediate(() => res.socket?.destroy()))
      return
    }
    this.packageBytesServed += body.length
    res.end(body)
  }
}
