import type {Readable} from 'node:stream'
import type {TLSSocket} from 'node:tls'
import {Client} from 'undici'
import {AGENT_UPLOADS_PATH, UploadState, type CreateUploadRequest} from '../../protocol/agent/index.js'

/**
 * The device's side of the upload routes, on its own HTTPS connection: the socket comes from
 * the same mTLS dialer as the control channel (device certificate, server CA, proxy), so an
 * upload takes exactly the route the operator allowed for the agent. One keep-alive connection
 * carries every chunk of an upload.
 */
export class UploadHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }

  /** Worth retrying later (server restarting, overloaded, network gone), as opposed to a refusal. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500
  }
}

export interface UploadApi {
  create(body: CreateUploadRequest): Promise<UploadState>
  /** null when the server does not know the upload (expired or discarded): start again. */
  get(uploadId: string): Promise<UploadState | null>
  /** `final`: the last chunk of a streamed upload, declaring the whole bundle. */
  put(uploadId: string, offset: number, body: Readable, length: number, final?: {size: number; sha256: string}): Promise<UploadState>
  close(): Promise<void>
}

export class HttpsUploadApi implements UploadApi {
  private readonly client: Client

  constructor(server: URL, connectTls: () => Promise<TLSSocket>) {
    this.client = new Client(server.origin, {
      connect: (_options, callback) => {
        connectTls().then(
          (socket) => callback(null, socket),
          (error: Error) => callback(error, null),
        )
      },
      // A chunk of 8 MiB over a slow hospital uplink can take minutes; the server's own timeouts bound it.
      bodyTimeout: 300_000,
      headersTimeout: 300_000,
    })
  }

  async create(body: CreateUploadRequest): Promise<UploadState> {
    return this.call('POST', AGENT_UPLOADS_PATH, JSON.stringify(body), {'content-type': 'application/json'})
  }

  async get(uploadId: string): Promise<UploadState | null> {
    try {
      return await this.call('GET', `${AGENT_UPLOADS_PATH}/${encodeURIComponent(uploadId)}`)
    } catch (error) {
      if (error instanceof UploadHttpError && error.status === 404) return null
      throw error
    }
  }

  async put(uploadId: string, offset: number, body: Readable, length: number, final?: {size: number; sha256: string}): Promise<UploadState> {
    const declare = final ? `&final=1&size=${final.size}&sha256=${final.sha256}` : ''
    return this.call('PUT', `${AGENT_UPLOADS_PATH}/${encodeURIComponent(uploadId)}?offset=${offset}${declare}`, body, {'content-type': 'application/octet-stream', 'content-length': String(length)})
  }

  async close(): Promise<void> {
    await this.client.close()
  }

  private async call(method: 'GET' | 'POST' | 'PUT', path: string, body?: string | Readable, headers: Record<string, string> = {}): Promise<UploadState> {
    let res
    try {
      res = await this.client.request({method, path, body, headers})
    } catch (error) {
      throw new UploadHttpError(0, 'NETWORK', `upload connection failed: ${(error as Error).message}`)
    }
    const text = await res.body.text().catch((error: Error) => {
      throw new UploadHttpError(0, 'NETWORK', `upload connection failed while reading the answer: ${error.message}`)
    })
    let json: unknown
    try {
      json = text ? JSON.parse(text) : null
    } catch {
      json = null
    }
    if (res.statusCode >= 400) {
      const err = (json as {error?: {code?: string; message?: string}} | null)?.error
      throw new UploadHttpError(res.statusCode, err?.code ?? `HTTP_${res.statusCode}`, `upload ${method} refused: HTTP ${res.statusCode} ${err?.message ?? text.slice(0, 200)}`.trim())
    }
    const parsed = UploadState.safeParse(json)
    if (!parsed.success) throw new UploadHttpError(res.statusCode, 'BAD_RESPONSE', `the server's upload answer is not an upload state: ${parsed.error.issues[0]?.message}`)
    return parsed.data
  }
}
