import {createHash, randomUUID} from 'node:crypto'
import {createServer, type Server} from 'node:https'
import type {AddressInfo} from 'node:net'
import {connect, type TLSSocket} from 'node:tls'
import {HttpsUploadApi} from '../../../src/agent/logs/upload-api.js'
import {AGENT_UPLOADS_PATH, type UploadState} from '../../../src/protocol/agent/index.js'
import {testCa} from '../../checks/fixtures/certs.js'

interface Upload {
  id: string
  /** null until a streamed upload's final chunk. */
  size: number | null
  sha256: string | null
  format?: string
  jobId?: string
  data: Buffer[]
  committed: number
  bundleId: string | null
}

/**
 * A stand-in for the support center's upload routes on a real HTTPS socket: it commits whole
 * "segments" only (like the encrypting server), and can be told to drop the connection in the
 * middle of a chunk — the server dying mid-upload, seen from the agent.
 */
export class FakeUploadServer {
  readonly uploads = new Map<string, Upload>()
  /** Every PUT's ?offset, in order. */
  readonly putOffsets: number[] = []
  /** Offsets of the PUTs that declared final=1 (streamed uploads). */
  readonly finalChunks: number[] = []
  /** Every PUT: where it started, its Content-Length, whether it declared final=1. */
  readonly puts: Array<{offset: number; length: number; final: boolean}> = []
  /** When set, the connection is destroyed once this many bytes of the upload have arrived (once). */
  dropAtByte?: number
  segment = 64 * 1024
  ca = ''
  private server!: Server
  port = 0

  static async start(): Promise<FakeUploadServer> {
    const fake = new FakeUploadServer()
    const ca = await testCa('Fake Upload CA')
    const leaf = await ca.sign({cn: '127.0.0.1', ips: ['127.0.0.1']})
    fake.ca = ca.cert
    fake.server = createServer({key: leaf.key, cert: leaf.cert}, (req, res) => fake.handle(req, res))
    await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r))
    fake.port = (fake.server.address() as AddressInfo).port
    return fake
  }

  get url(): URL {
    return new URL(`https://127.0.0.1:${this.port}`)
  }

  api(): HttpsUploadApi {
    return new HttpsUploadApi(this.url, () => this.connectTls())
  }

  connectTls(): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const s = connect({host: '127.0.0.1', port: this.port, ca: this.ca, ALPNProtocols: ['http/1.1']})
      s.once('secureConnect', () => resolve(s))
      s.once('error', reject)
    })
  }

  content(id: string): Buffer {
    return Buffer.concat(this.uploads.get(id)!.data)
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((r) => this.server.close(() => r()))
  }

  private state(u: Upload): UploadState {
    return {uploadId: u.id, size: u.size, offset: u.committed, status: u.bundleId ? 'complete' : 'open', bundleId: u.bundleId}
  }

  private handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://x')
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, {'content-type': 'application/json'}).end(JSON.stringify(body))
    }
    const id = url.pathname.slice(AGENT_UPLOADS_PATH.length + 1)
    if (req.method === 'POST' && url.pathname === AGENT_UPLOADS_PATH) {
      let text = ''
      req.on('data', (d) => (text += d))
      req.on('end', () => {
        const body = JSON.parse(text) as {size?: number; sha256?: string; jobId?: string; format?: string}
        const u: Upload = {id: randomUUID(), size: body.size ?? null, sha256: body.sha256 ?? null, format: body.format, jobId: body.jobId, data: [], committed: 0, bundleId: null}
        this.uploads.set(u.id, u)
        send(201, this.state(u))
      })
      return
    }
    const u = this.uploads.get(id)
    if (!u) return send(404, {error: {code: 'NOT_FOUND', message: 'no such upload'}})
    if (req.method === 'GET') return send(200, this.state(u))
    if (req.method !== 'PUT') return send(405, {error: {code: 'METHOD', message: 'no'}})
    const offset = Number(url.searchParams.get('offset'))
    this.putOffsets.push(offset)
    this.puts.push({offset, length: Number(req.headers['content-length']), final: url.searchParams.get('final') === '1'})
    if (url.searchParams.get('final') === '1') {
      this.finalChunks.push(offset)
      u.size = Number(url.searchParams.get('size'))
      u.sha256 = url.searchParams.get('sha256')
    }
    if (offset !== u.committed) return send(409, {error: {code: 'OFFSET_MISMATCH', message: `committed offset is ${u.committed}`}})
    let pending = Buffer.alloc(0)
    let dropped = false
    const commitAligned = (final: boolean): void => {
      const keep = final ? pending.length : Math.floor(pending.length / this.segment) * this.segment
      u.data.push(pending.subarray(0, keep))
      u.committed += keep
    }
    req.on('data', (chunk: Buffer) => {
      if (dropped) return
      pending = Buffer.concat([pending, chunk])
      if (this.dropAtByte !== undefined && u.committed + pending.length >= this.dropAtByte) {
        this.dropAtByte = undefined
        dropped = true
        commitAligned(false)
        req.socket.destroy()
      }
    })
    req.on('end', () => {
      if (dropped) return
      const final = u.committed + pending.length === u.size
      commitAligned(final)
      if (final) {
        const hash = createHash('sha256').update(this.content(u.id)).digest('hex')
        if (hash !== u.sha256) {
          this.uploads.delete(u.id)
          return send(422, {error: {code: 'CHECKSUM_MISMATCH', message: 'sha256 differs'}})
        }
        u.bundleId = `bundle-${u.id.slice(0, 8)}`
      }
      send(200, this.state(u))
    })
  }
}
