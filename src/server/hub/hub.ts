import type {IncomingMessage} from 'node:http'
import type {Duplex} from 'node:stream'
import {type RawData, type WebSocket, WebSocketServer} from 'ws'
import {decodeAgentMessage, encodeMessage, negotiateVersion} from '../../protocol/agent/codec.js'
import {
  AGENT_CONNECT_PATH,
  CloseCodes,
  MAX_FRAME_BYTES,
  ProtocolErrorCodes,
  type AgentToServer,
  type ErrorMessage,
  type RequestMessage,
  type ResponseMessage,
} from '../../protocol/agent/messages.js'
import type {JobMessage} from '../../protocol/agent/jobs.js'
import type {DeviceEndReason} from '../../protocol/agent/tunnels.js'
import {UnavailableError} from '../../shared/errors.js'
import {broadcastCheckpoint, exchangeCheckpoints} from './anchoring.js'
import {AgentConnection, MAX_QUEUED_MESSAGES} from './connection.js'
import {DeviceEventIntake} from './events.js'
import {HeartbeatSweep} from './heartbeat.js'
import {PresenceWriter} from './presence.js'
import {authenticateUpgrade, rejectUpgrade} from './upgrade.js'
import type {UpgradeRouter} from './upgrade-routes.js'
import type {BroadcastResult, HubDeps, HubJobHandler, HubOptions, Presence} from './types.js'

export type {BroadcastResult, HubDeps, HubJobHandler, HubOptions, Presence} from './types.js'


/** Handles one decoded message type for a connection that said hello. */
type MessageHandler<T extends AgentToServer['type']> = (c: AgentConnection, message: Extract<AgentToServer, {type: T}>) => Promise<void> | void

type RequestBody = Omit<RequestMessage, 'id' | 'type'>

/**
 * The device hub: accepts agent WebSockets on the HTTPS server (mTLS checked in upgrade.ts),
 * holds one connection per device on this node, runs heartbeats, records presence and device
 * events, and sends requests with bounded waits. See docs/agent-protocol.md.
 */
export class DeviceHub {
  private readonly connections = new Map<string, AgentConnection>()
  private readonly wss: WebSocketServer
  private readonly presence: PresenceWriter
  private readonly events: DeviceEventIntake
  private tick: NodeJS.Timeout | undefined
  private readonly sweep: HeartbeatSweep
  private nextId = 0
  private jobHandler: HubJobHandler | undefined
  private readonly options: Required<HubOptions>
  /**
   * One handler per agent message type (frp's msg registry in spirit): a feature adds its
   * entry, nothing else in the hub branches on a type.
   */
  private readonly handlers: {[T in AgentToServer['type']]: MessageHandler<T>} = {
    hello: (c, m) => this.onHello(c, m),
    inventory: (c, m) => this.onInventory(c, m),
    event: (c, m) => this.events.onEvent(c, m, this.replyTo(c)),
    response: (c, m) => {
      if (!c.settle(m.id, m)) this.deps.log.debug({serial: c.serial, id: m.id}, 'hub: response to no pending request (late?)')
    },
    'job-update': (c, m) => {
      if (!this.jobHandler) return this.reply(c, {type: 'error', refId: m.id, code: ProtocolErrorCodes.unknownType, message: 'this server takes no jobs'})
      return this.jobHandler.update({serial: c.serial, customerId: c.customerId}, m)
    },
    error: (c, m) => this.deps.log.warn({serial: c.serial, code: m.code, refId: m.refId}, `hub: agent reported: ${m.message}`),
    'stream-ending': (c, m) => this.streamEnding?.(c.serial, m.streamId, m.why),
  }
  private streamEnding: ((serial: string, streamId: string, why: DeviceEndReason) => void) | undefined

  constructor(
    private readonly deps: HubDeps,
    options: HubOptions,
  ) {
    this.options = {helloTimeoutMs: 10_000, touchIntervalMs: Math.max(1000, Math.floor(options.heartbeatTimeoutMs / 2)), ...options}
    // No compression: it costs ~300 KB of zlib state per connection, and messages are tiny.
    this.wss = new WebSocketServer({noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: false})
    this.presence = new PresenceWriter(deps.db, deps.log)
    this.events = new DeviceEventIntake(deps)
    this.sweep = new HeartbeatSweep(this.options, deps, this.presence, (c, error) => this.refuseBeforeHello(c, error))
    deps.anchoring?.onSigned((checkpoint) => broadcastCheckpoint(this.connections.values(), checkpoint, deps.log))
  }

  get heartbeat(): {intervalMs: number; timeoutMs: number} {
    return {intervalMs: this.options.heartbeatIntervalMs, timeoutMs: this.options.heartbeatTimeoutMs}
  }

  /** Takes agent control channels from the upgrade table and starts the heartbeat tick. */
  attach(upgrades: UpgradeRouter): void {
    upgrades.add('agent control channel', AGENT_CONNECT_PATH, (request, socket, head) => this.onUpgrade(request, socket, head))
    const tickMs = Math.min(1000, this.options.heartbeatIntervalMs)
    this.tick = setInterval(() => this.onTick(), tickMs)
    this.tick.unref()
    this.presence.start()
  }

  /** Connected devices (hello done) on this node. */
  get size(): number {
    let n = 0
    for (const c of this.connections.values()) if (c.ready) n++
    return n
  }

  presenceOf(serial: string): Presence | null {
    const c = this.connections.get(serial)
    if (!c?.ready) return null
    return {online: true, lastSeenAt: new Date(c.lastActivity).toISOString(), inventory: c.inventory}
  }

  isOnline(serial: string): boolean {
    return this.connections.get(serial)?.ready ?? false
  }

  setJobHandler(handler: HubJobHandler): void {
    this.jobHandler = handler
  }

  /** Tunnels (src/server/tunnels) hear here why a device is about to cut one of its streams. */
  onStreamEnding(handler: (serial: string, streamId: string, why: DeviceEndReason) => void): void {
    this.streamEnding = handler
  }

  /** Pushes a job (no wait: the agent answers with job-update messages). False when not delivered. */
  sendJob(serial: string, job: JobMessage): boolean {
    const c = this.connections.get(serial)
    if (!c?.ready) return false
    return c.send(job, (error) => this.deps.log.info({serial, err: error, jobId: job.jobId}, 'hub: sending a job failed'))
  }

  /** Sends a request and waits for the agent's response (DEVICE_OFFLINE / DEVICE_TIMEOUT otherwise). */
  request(serial: string, body: RequestBody, timeoutMs = this.options.requestTimeoutMs): Promise<ResponseMessage> {
    const c = this.connections.get(serial)
    if (!c?.ready) return Promise.reject(new UnavailableError(`device "${serial}" is offline`, {code: 'DEVICE_OFFLINE'}))
    return c.request({...body, type: 'request', id: this.newId()} as RequestMessage, timeoutMs)
  }

  /** A ping request to every connected agent; resolves when all answered or timed out. */
  async broadcastPing(timeoutMs = this.options.requestTimeoutMs): Promise<BroadcastResult> {
    const started = performance.now()
    const targets = [...this.connections.values()].filter((c) => c.ready)
    // One id, one encoding and one timer for all: ids only need to be unique per connection.
    const id = this.newId()
    const text = encodeMessage({type: 'request', id, kind: 'ping'})
    const waits = targets.map((c) => c.requestEncoded(id, text))
    const timer = setTimeout(() => {
      for (const c of targets) c.settle(id, undefined, new UnavailableError(`device "${c.serial}" did not answer within ${timeoutMs} ms`, {code: 'DEVICE_TIMEOUT'}))
    }, timeoutMs)
    const results = await Promise.allSettled(waits)
    clearTimeout(timer)
    const answered = results.filter((r) => r.status === 'fulfilled' && r.value.ok).length
    return {sent: targets.length, answered, failed: targets.length - answered, elapsedMs: performance.now() - started}
  }

  /** Cuts a revoked device off at once: bye + close 4003. True when it was connected. */
  disconnect(serial: string, reason: 'revoked' | 'replaced' = 'revoked'): boolean {
    const c = this.connections.get(serial)
    if (!c) return false
    this.closeConnection(c, reason === 'revoked' ? CloseCodes.revoked : CloseCodes.replaced, reason)
    return true
  }

  /** Server shutdown: bye {reason:'shutdown'} + 1001 to every agent, then presence is flushed. */
  async close(): Promise<void> {
    if (this.tick) clearInterval(this.tick)
    const all = [...this.connections.values()]
    const closed = all.map((c) => new Promise<void>((resolve) => (c.ws.readyState === c.ws.CLOSED ? resolve() : c.ws.once('close', () => resolve()))))
    for (const c of all) this.closeConnection(c, CloseCodes.goingAway, 'shutdown')
    await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 2000).unref())])
    for (const c of all) c.ws.terminate()
    await this.presence.stop()
  }

  private newId(): string {
    this.nextId = (this.nextId + 1) % Number.MAX_SAFE_INTEGER
    return `r${this.nextId.toString(36)}`
  }

  private async onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const verdict = await authenticateUpgrade(socket, this.deps.db)
    if (!verdict.ok) {
      this.deps.log.warn({code: verdict.code, status: verdict.status, remote: request.socket.remoteAddress}, `hub: agent refused: ${verdict.message}`)
      return rejectUpgrade(socket, verdict.status, verdict.code, verdict.message)
    }
    if (socket.destroyed) return
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, verdict.serial, verdict.customerId))
  }

  private accept(ws: WebSocket, serial: string, customerId: string): void {
    const previous = this.connections.get(serial)
    // The same device again (a half-open old connection, or a clone): the newest wins.
    if (previous) this.closeConnection(previous, CloseCodes.replaced, 'replaced')
    const c = new AgentConnection(ws, serial, customerId, Date.now())
    this.connections.set(serial, c)
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(c, data, isBinary))
    ws.on('pong', () => (c.lastActivity = Date.now()))
    ws.on('ping', () => (c.lastActivity = Date.now()))
    ws.on('error', (error) => this.deps.log.info({serial, err: error}, `hub: connection error: ${error.message}`))
    ws.on('close', (code: number) => this.onClose(c, code))
  }

  private onMessage(c: AgentConnection, data: RawData, isBinary: boolean): void {
    c.lastActivity = Date.now()
    if (isBinary) {
      const error = {type: 'error', code: ProtocolErrorCodes.malformed, message: 'text frames only'} as const
      // Before hello nothing on this connection is worth keeping: close at once.
      return c.state === 'awaiting-hello' ? this.refuseBeforeHello(c, error) : this.reply(c, error)
    }
    if (c.queued >= MAX_QUEUED_MESSAGES) {
      // Dropped, not queued: an unacknowledged event is redelivered by the agent's outbox.
      return this.reply(c, {type: 'error', code: 'BUSY', message: `more than ${MAX_QUEUED_MESSAGES} messages waiting; slow down`})
    }
    c.queued++
    c.queue = c.queue
      .then(() => this.handle(c, data as Buffer))
      .catch((error: unknown) => {
        this.deps.log.error({serial: c.serial, err: error}, 'hub: message handler failed')
        this.reply(c, {type: 'error', code: ProtocolErrorCodes.internal, message: 'the server could not handle the message'})
      })
      .finally(() => c.queued--)
  }

  private async handle(c: AgentConnection, data: Buffer): Promise<void> {
    if (c.ending) return
    const decoded = decodeAgentMessage(data)
    if (!decoded.ok) {
      this.deps.log.warn({serial: c.serial, code: decoded.error.code}, `hub: bad message: ${decoded.error.message}`)
      if (c.state === 'awaiting-hello') return this.refuseBeforeHello(c, decoded.error)
      this.reply(c, decoded.error)
      // An event that can never be recorded is settled with a refusal, or the agent resends it forever.
      if (decoded.eventId) return this.events.refuse(c, decoded.eventId, {code: decoded.error.code, message: decoded.error.message}, 'undecodable', this.replyTo(c))
      return
    }
    const message = decoded.message
    if (c.state === 'awaiting-hello' && message.type !== 'hello') {
      return this.refuseBeforeHello(c, {type: 'error', code: ProtocolErrorCodes.helloRequired, message: `expected "hello" first, got "${message.type}"`})
    }
    const handler = this.handlers[message.type] as MessageHandler<typeof message.type>
    await handler(c, message)
  }

  private onInventory(c: AgentConnection, message: Extract<AgentToServer, {type: 'inventory'}>): void {
    if (message.inventory.serial !== c.serial) return this.reply(c, {type: 'error', refId: message.id, code: ProtocolErrorCodes.invalid, message: 'inventory.serial is not this device'})
    c.inventory = message.inventory
    this.presence.record(c.serial, new Date(), message.inventory)
  }

  private onHello(c: AgentConnection, hello: Extract<AgentToServer, {type: 'hello'}>): void {
    if (c.state !== 'awaiting-hello') return this.reply(c, {type: 'error', refId: hello.id, code: ProtocolErrorCodes.invalid, message: 'hello was already received'})
    const version = negotiateVersion(hello.protocolVersions)
    if (version === null) {
      this.reply(c, {type: 'error', refId: hello.id, code: ProtocolErrorCodes.unsupportedVersion, message: `no common protocol version: agent speaks ${hello.protocolVersions.join(',')}`})
      return this.closeConnection(c, CloseCodes.protocolError, 'protocol-error', false)
    }
    if (hello.inventory.serial !== c.serial) {
      this.reply(c, {type: 'error', refId: hello.id, code: ProtocolErrorCodes.invalid, message: `inventory.serial "${hello.inventory.serial}" is not the certificate's "${c.serial}"`})
      return this.closeConnection(c, CloseCodes.protocolError, 'protocol-error', false)
    }
    c.becomeReady(version)
    c.inventory = hello.inventory
    this.deps.leases?.hold(c.serial)
    const anchoring = this.deps.anchoring
    this.reply(c, {
      type: 'welcome',
      protocolVersion: version,
      serverTime: new Date().toISOString(),
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
      ...(anchoring ? {checkpointKey: anchoring.publicKey} : {}),
    })
    this.presence.record(c.serial, new Date(), hello.inventory)
    this.deps.log.info({serial: c.serial, protocolVersion: version}, 'hub: agent connected')
    if (anchoring) void exchangeCheckpoints(c, anchoring, hello.witness, this.replyTo(c), this.deps.log)
    // After the welcome: queued jobs follow it on the same ordered channel.
    if (this.jobHandler) {
      this.jobHandler.connected(c.serial).catch((error: unknown) => this.deps.log.error({serial: c.serial, err: error}, 'hub: pushing queued jobs failed'))
    }
  }

  private refuseBeforeHello(c: AgentConnection, error: ErrorMessage): void {
    this.reply(c, error)
    this.closeConnection(c, CloseCodes.helloRequired, 'protocol-error', false)
  }

  private reply(c: AgentConnection, message: Parameters<AgentConnection['send']>[0]): void {
    c.send(message, (error) => this.deps.log.debug({serial: c.serial, err: error}, 'hub: send failed'))
  }

  private replyTo(c: AgentConnection): (message: Parameters<AgentConnection['send']>[0]) => void {
    return (message) => this.reply(c, message)
  }

  /** bye (optional) + close frame; terminate if the peer does not complete the close in 2 s. */
  private closeConnection(c: AgentConnection, code: number, reason: string, bye = true): void {
    if (c.ending) return
    if (bye) this.reply(c, {type: 'bye', reason})
    c.beginClose()
    c.ws.close(code, reason)
    setTimeout(() => c.ws.terminate(), 2000).unref()
  }

  private onClose(c: AgentConnection, code: number): void {
    const wasReady = c.protocolVersion !== null
    c.markClosed(`close ${code}`)
    if (this.connections.get(c.serial) === c) {
      this.connections.delete(c.serial)
      // The device's connection here is gone (also when the newest one never said hello: the one
      // it replaced may have held the lease). A replaced connection leaves the lease to the newer one.
      this.deps.leases?.release(c.serial)
    }
    if (wasReady) {
      this.presence.record(c.serial, new Date(c.lastActivity))
      this.deps.log.info({serial: c.serial, code}, 'hub: agent disconnected')
    }
  }

  /** One timer for every connection (heartbeat.ts). */
  private onTick(): void {
    this.sweep.tick(Date.now(), this.connections.values())
  }
}
