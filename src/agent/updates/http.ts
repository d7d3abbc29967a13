import type {Readable} from 'node:stream'
import type {Socket} from 'node:net'
import {Client} from 'undici'

/**
 * The device's GETs to the server's update routes (TUF metadata and packages), on its own
 * connection: in the agent the socket comes from the control channel's mTLS dialer (device
 * certificate, server CA, the site's CONNECT proxy), exactly like log uploads, so an update takes
 * the route the operator allowed for the agent and nothing else.
 */
export interface UpdatesResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Readable
}

export interface UpdatesHttp {
  /** `rangeFrom`: ask for the bytes from this offset on (`Range: bytes=N-`). */
  get(path: string, options?: {rangeFrom?: number; signal?: AbortSignal}): Promise<UpdatesResponse>
  close(): Promise<void>
}

export class UndiciUpdatesHttp implements UpdatesHttp {
  private readonly client: Client

  /** `connect`: the agent's dialer; absent = a plain connection to `server` (tests). */
  constructor(server: URL, connect?: () => Promise<Socket>) {
    this.client = new Client(server.origin, {
      ...(connect
        ? {
            connect: (_options, callback) => {
              connect().then(
                (socket) => callback(null, socket),
                (error: Error) => callback(error, null),
              )
            },
          }
        : {}),
      // A package over a slow hospital uplink: the body may pause, the download resumes anyway.
      bodyTimeout: 120_000,
      headersTimeout: 60_000,
    })
  }

  async get(path: string, options: {rangeFrom?: number; signal?: AbortSignal} = {}): Promise<UpdatesResponse> {
    const headers: Record<string, string> = {}
    if (options.rangeFrom !== undefined && options.rangeFrom > 0) headers.range = `bytes=${options.rangeFrom}-`
    const res = await this.client.request({method: 'GET', path, headers, signal: options.signal})
    return {status: res.statusCode, headers: res.headers, body: res.body}
  }

  /**
   * Ends the connection at once: a response tuf-js stopped reading (metadata longer than its bound)
   * is never drained, and a graceful close would wait for it forever.
   */
  async close(): Promise<void> {
    await this.client.destroy()
  }
}
