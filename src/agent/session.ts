import type WebSocket from 'ws'
import {
  CloseCodes,
  decodeServerMessage,
  encodeMessage,
  PROTOCOL_VERSIONS,
  ProtocolErrorCodes,
  type AgentToServer,
  type DeviceEndReason,
  type EventAckMessage,
  type Inventory,
  type JobMessage,
  type RequestMessage,
  type ResponseMessage,
  type WelcomeMessage,
} from '../protocol/agent/index.js'
import type {AuditCheckpoint} from '../protocol/audit-checkpoint.js'
import type {Clock, TimerHandle} from './clock.js'
import type {JobUpdate} from './jobs/runner.js'
import type {OutboxEvent} from './outbox.js'

/**
 * The session layer: one control channel on an open WebSocket — version handshake, heartbeat
 * watchdog, message dispatch. Everything from the peer is decoded through the protocol registry;
 * a malformed or unknown message is logged and answered with `error`, never thrown.
 */
export type ResponseBody = Pick<ResponseMessage, 'ok' | 'result' | 'error'>

export interface RequestHandler {
  handle(request: RequestMessage): Promise<ResponseBody>
}

export interface SessionLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface SessionEnd {
  code: number
  reason: string
  /** The server said this device is revoked (bye revoked / close 4003). */
  revoked: boolean
  /** Why it ended, in words, for status.json (null: a normal close). */
  error: string | null
}

export interface SessionOptions {
  clock: Clock
  log: SessionLog
  handler: RequestHandler
  /** The server settled an event: recorded, or `refused` for good. */
  onEventAck: (ack: EventAckMessage) => void
  /** Jobs pushed by the server (the job runner); without it every job is refused. */
  onJob?: (job: JobMessage) => void
  /** Called as the welcome arrives, before any later message is dispatched (the checkpoint key comes with it). */
  onWelcome?: (welcome: WelcomeMessage) => void
  /** Signed audit checkpoints (the witness); without it they are logged and ignored. */
  onCheckpoint?: (checkpoint: AuditCheckpoint) => void
  /** Used until the welcome says otherwise. */
  heartbeatTimeoutMs: number
  /** How long to wait for `welcome` after `hello`. */
  welcomeTimeoutMs: number
  /** Bound on requests being handled at once; more are answered BUSY. */
  maxConcurrentRequests?: number
}

/**
 * Requests handled at once. A tunnel.open is in flight while the device connects to the target
 * and dials its data leg (milliseconds to seconds), and an engineer's `tunnels open` may start
 * dozens of streams at once (a VNC viewer, a browser on a service page): 128 leaves room for
 * that while still bounding what a misbehaving server can make the device hold.
 */
export const MAX_CONCURRENT_REQUESTS = 128

export class ControlSession {
  readonly ended: Promise<SessionEnd>
  welcome?: WelcomeMessage
  private resolveEnded!: (end: SessionEnd) => void
  private watchdog?: TimerHandle
  private timeoutMs: number
  private inFlight = 0
  private endState: Partial<SessionEnd> = {}
  private finished = false

  constructor(
    private readonly ws: WebSocket,
    private readonly options: SessionOptions,
  ) {
    this.timeoutMs = options.heartbeatTimeoutMs
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve))
    ws.on('message', (data, isBinary) => {
      this.alive()
      if (isBinary) return this.send({type: 'error', code: ProtocolErrorCodes.malformed, message: 'binary frames are not part of the protocol'})
      this.onFrame(data as Buffer)
    })
    ws.on('ping', () => this.alive())
    ws.on('pong', () => this.alive())
    ws.on('error', (error) => {
      this.endState.error ??= error.message.includes('Max payload') ? 'the server sent a frame larger than the protocol allows' : error.message
    })
    ws.on('close', (code, reason) => this.finish(code, reason.toString()))
    this.alive()
  }

  /** Sends hello (with the witnessed checkpoint, if any); resolves with the welcome, rejects when the server refuses or does not answer. */
  handshake(inventory: Inventory, witness?: AuditCheckpoint): Promise<WelcomeMessage> {
    return new Promise((resolve, reject) => {
      const timer = this.options.clock.setTimeout(() => {
        reject(new Error(`no welcome from the server within ${this.options.welcomeTimeoutMs}ms`))
        this.close(CloseCodes.protocolError, 'no welcome')
      }, this.options.welcomeTimeoutMs)
      this.onWelcome = (welcome) => {
        this.options.clock.clearTimeout(timer)
        resolve(welcome)
      }
      void this.ended.then((end) => {
        this.options.clock.clearTimeout(timer)
        reject(new Error(end.error ?? `the server closed the connection during the handshake (${end.code} ${end.reason})`.trim()))
      })
      this.send({type: 'hello', protocolVersions: [...PROTOCOL_VERSIONS], inventory, ...(witness ? {witness} : {})})
    })
  }

  sendInventory(inventory: Inventory): void {
    this.send({type: 'inventory', inventory})
  }

  sendEvent(event: OutboxEvent): void {
    this.send({type: 'event', ...event})
  }

  /** Tells the server why the device is about to cut a stream (StreamEndingMessage). */
  sendStreamEnding(streamId: string, why: DeviceEndReason): void {
    this.send({type: 'stream-ending', streamId, why})
  }

  sendJobUpdate(update: JobUpdate): void {
    this.send({type: 'job-update', ...update})
  }

  close(code: number = CloseCodes.normal, reason = ''): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason)
    // A peer that never answers the close frame must not keep us: terminate after a grace period.
    const t = this.options.clock.setTimeout(() => this.ws.terminate(), 2000)
    void this.ended.then(() => this.options.clock.clearTimeout(t))
  }

  terminate(error: string): void {
    this.endState.error ??= error
    this.ws.terminate()
  }

  private onWelcome?: (welcome: WelcomeMessage) => void

  private send(message: AgentToServer): void {
    if (this.ws.readyState !== this.ws.OPEN) return
    this.ws.send(encodeMessage(message), (error) => {
      if (error) this.options.log.warn({err: error.message, type: message.type}, 'send failed')
    })
  }

  /** Any frame proves the link is alive; silence for longer than the timeout means it is dead or half-open. */
  private alive(): void {
    if (this.finished) return
    if (this.watchdog) this.options.clock.clearTimeout(this.watchdog)
    this.watchdog = this.options.clock.setTimeout(() => this.terminate(`no heartbeat from the server for ${this.timeoutMs}ms (dead or half-open connection)`), this.timeoutMs)
  }

  private onFrame(data: Buffer): void {
    const decoded = decodeServerMessage(data)
    if (!decoded.ok) {
      this.options.log.warn({code: decoded.error.code, message: decoded.error.message}, 'bad message from the server')
      return this.send(decoded.error)
    }
    const message = decoded.message
    switch (message.type) {
      case 'welcome':
        this.welcome = message
        this.timeoutMs = message.heartbeatTimeoutMs
        this.alive()
        this.options.onWelcome?.(message)
        this.onWelcome?.(message)
        return
      case 'event-ack':
        return this.options.onEventAck(message)
      case 'checkpoint':
        if (this.options.onCheckpoint) return this.options.onCheckpoint(message.checkpoint)
        return this.options.log.info({seq: message.checkpoint.seq}, 'audit checkpoint ignored (this session keeps no witness)')
      case 'request':
        return void this.dispatch(message)
      case 'job':
        if (this.options.onJob) return this.options.onJob(message)
        return this.sendJobUpdate({jobId: message.jobId, status: 'refused', error: {code: 'KIND_NOT_ALLOWED', message: 'this agent runs no jobs'}})
      case 'error':
        this.options.log.warn({code: message.code, message: message.message, refId: message.refId}, 'the server reported an error')
        if (message.code === ProtocolErrorCodes.unsupportedVersion) this.endState.error = `the server speaks none of this agent's protocol versions (${PROTOCOL_VERSIONS.join(', ')}): ${message.message}`
        return
      case 'bye':
        this.options.log.info({reason: message.reason}, 'the server said bye')
        if (message.reason === 'revoked') this.endState.revoked = true
        this.endState.reason = String(message.reason)
        return
    }
  }

  private async dispatch(request: RequestMessage): Promise<void> {
    if (this.inFlight >= (this.options.maxConcurrentRequests ?? MAX_CONCURRENT_REQUESTS)) {
      return this.send({type: 'response', id: request.id, ok: false, error: {code: 'BUSY', message: 'the agent is handling too many requests; retry'}})
    }
    this.inFlight++
    let body: ResponseBody
    try {
      body = await this.options.handler.handle(request)
    } catch (error) {
      // A failing handler answers with an error; it never takes the session down.
      this.options.log.warn({err: (error as Error).message, kind: request.kind}, 'request handler failed')
      body = {ok: false, error: {code: ProtocolErrorCodes.internal, message: 'the agent failed to handle the request'}}
    } finally {
      this.inFlight--
    }
    this.send({type: 'response', id: request.id, ...body})
  }

  private finish(code: number, reason: string): void {
    if (this.finished) return
    this.finished = true
    if (this.watchdog) this.options.clock.clearTimeout(this.watchdog)
    const revoked = this.endState.revoked === true || code === CloseCodes.revoked
    let error = this.endState.error ?? null
    if (revoked) error = 'device certificate revoked: the server cut the connection'
    else if (!error && code !== CloseCodes.normal) error = `connection closed by the server (${code}${reason || this.endState.reason ? ` ${reason || this.endState.reason}` : ''})`
    this.resolveEnded({code, reason: reason || this.endState.reason || '', revoked, error})
  }
}
