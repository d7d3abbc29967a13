import {once} from 'node:events'
import {WebSocket} from 'ws'
import {AGENT_CONNECT_PATH, MAX_FRAME_BYTES, type Inventory, type ServerToAgent} from '../../../src/protocol/agent/messages.js'

export interface FakeAgentOptions {
  url: string
  certPem: string
  keyPem: string
  serverCaPem: string
  /** Answer `request`s: default accept. */
  onRequest?: (message: Extract<ServerToAgent, {type: 'request'}>) => {ok: boolean; result?: unknown; error?: {code: string; message: string}} | null
  /** Answer WebSocket pings (default true; false simulates a silent, half-open peer). */
  autoPong?: boolean
}

export function inventoryFor(serial: string): Inventory {
  return {serial, model: 'X200', agentVersion: '0.0.0-test', os: 'linux', uptimeSeconds: 12, addresses: ['127.0.0.1'], accessMode: {mode: 'allow', until: null}}
}

/**
 * A minimal agent over a real mTLS WebSocket, for hub tests: records every message it gets
 * and lets the test send raw frames (malformed ones included).
 */
export class FakeAgent {
  readonly received: ServerToAgent[] = []
  closeCode: number | null = null
  private waiters: Array<() => void> = []

  private constructor(
    readonly ws: WebSocket,
    private readonly options: FakeAgentOptions,
  ) {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as ServerToAgent
      this.received.push(message)
      if (message.type === 'request') {
        const answer = options.onRequest ? options.onRequest(message) : {ok: true, result: message.kind === 'ping' ? {pong: true} : {}}
        if (answer) this.send({type: 'response', id: message.id, ...answer})
      }
      this.wake()
    })
    ws.on('close', (code) => {
      this.closeCode = code
      this.wake()
    })
  }

  /** Opens the WebSocket; rejects with {status} when the upgrade is refused. */
  static async connect(options: FakeAgentOptions): Promise<FakeAgent> {
    const ws = new WebSocket(new URL(AGENT_CONNECT_PATH, options.url), {
      cert: options.certPem,
      key: options.keyPem,
      ca: options.serverCaPem,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      autoPong: options.autoPong ?? true,
    })
    const agent = new FakeAgent(ws, options)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('unexpected-response', (_req, res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d))
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode} ${body}`), {status: res.statusCode, body})))
      })
      ws.once('error', reject)
    })
    return agent
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  /** extra: more hello fields, e.g. a `witness`. */
  async hello(serial: string, versions = [1], extra: Record<string, unknown> = {}): Promise<ServerToAgent> {
    this.send({type: 'hello', protocolVersions: versions, inventory: inventoryFor(serial), ...extra})
    return this.next((m) => m.type === 'welcome' || m.type === 'error')
  }

  /** The first message (already received or to come) matching `match`. */
  async next(match: (m: ServerToAgent) => boolean, timeoutMs = 5000): Promise<ServerToAgent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.received.find(match)
      if (found) return found
      if (this.closeCode !== null) throw new Error(`closed (${this.closeCode}) before the expected message; got ${JSON.stringify(this.received)}`)
      if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(this.received)}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  async closed(timeoutMs = 5000): Promise<number> {
    if (this.closeCode !== null) return this.closeCode
    const timer = setTimeout(() => this.ws.terminate(), timeoutMs)
    const [code] = (await once(this.ws, 'close')) as [number]
    clearTimeout(timer)
    return code
  }

  close(): void {
    this.ws.terminate()
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }
}
