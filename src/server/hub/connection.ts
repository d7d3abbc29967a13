import type {WebSocket} from 'ws'
import {encodeMessage} from '../../protocol/agent/codec.js'
import type {Inventory, ResponseMessage, ServerToAgent} from '../../protocol/agent/messages.js'
import {UnavailableError} from '../../shared/errors.js'

/** Above this many unsent bytes a connection is treated as stuck: new requests fail fast. */
export const MAX_BUFFERED_BYTES = 256 * 1024
/** Requests in flight per connection; more fail with DEVICE_BUSY (no unbounded map). */
export const MAX_PENDING_REQUESTS = 256
/** Messages waiting to be handled per connection; more are answered BUSY and dropped. */
export const MAX_QUEUED_MESSAGES = 64

/**
 * The server side of one agent connection, as explicit states (the agent's own side is
 * src/agent/connection-state.ts): `awaiting-hello` until a valid hello, `ready` while requests
 * and jobs may flow, `closing` once a close was started (bye sent or termination decided),
 * `closed` when the socket is gone. Moves are guarded: an illegal one is a bug and throws.
 */
export type AgentConnectionState = 'awaiting-hello' | 'ready' | 'closing' | 'closed'

const TRANSITIONS: Record<AgentConnectionState, readonly AgentConnectionState[]> = {
  'awaiting-hello': ['ready', 'closing', 'closed'],
  ready: ['closing', 'closed'],
  closing: ['closed'],
  closed: [],
}

export class IllegalConnectionTransition extends Error {
  constructor(serial: string, from: AgentConnectionState, to: AgentConnectionState) {
    super(`agent connection ${serial}: illegal transition ${from} → ${to}`)
  }
}

interface Pending {
  resolve: (response: ResponseMessage) => void
  reject: (error: Error) => void
  /** Absent for broadcasts, which share one timer. */
  timer?: NodeJS.Timeout
}

/**
 * One agent's control channel on this node. Kept small (it exists 10,000 times): no timers
 * of its own except per in-flight request; heartbeats and hello deadlines are driven by the
 * hub's single tick.
 */
export class AgentConnection {
  /** Set by the hello that made the connection ready. */
  protocolVersion: number | null = null
  inventory: Inventory | null = null
  lastActivity: number
  lastPingAt: number
  /** Serialises message handling, so one device's events are recorded in order. */
  queue: Promise<void> = Promise.resolve()
  queued = 0
  private current: AgentConnectionState = 'awaiting-hello'
  /** Device events refused on this connection (only the first is audited). */
  refusedEvents = 0
  private readonly pending = new Map<string, Pending>()

  constructor(
    readonly ws: WebSocket,
    readonly serial: string,
    readonly customerId: string,
    readonly connectedAt: number,
  ) {
    this.lastActivity = connectedAt
    this.lastPingAt = connectedAt
  }

  get state(): AgentConnectionState {
    return this.current
  }

  get ready(): boolean {
    return this.current === 'ready'
  }

  /** Closing or closed: nothing more is handled on this connection. */
  get ending(): boolean {
    return this.current === 'closing' || this.current === 'closed'
  }

  /** The hello was accepted at `version`. */
  becomeReady(version: number): void {
    this.move('ready')
    this.protocolVersion = version
  }

  /** Starts closing; false when a close is already under way (the caller does nothing twice). */
  beginClose(): boolean {
    if (this.ending) return false
    this.move('closing')
    return true
  }

  /** The socket is gone; in-flight requests fail. */
  markClosed(reason: string): void {
    if (this.current !== 'closed') this.move('closed')
    this.failAll(reason)
  }

  private move(to: AgentConnectionState): void {
    if (!TRANSITIONS[this.current].includes(to)) throw new IllegalConnectionTransition(this.serial, this.current, to)
    this.current = to
  }

  /** False when the socket is not open or too far behind; send errors are logged by onError. */
  send(message: ServerToAgent, onError?: (error: Error) => void): boolean {
    if (this.ws.readyState !== this.ws.OPEN || this.ws.bufferedAmount > MAX_BUFFERED_BYTES) return false
    this.ws.send(encodeMessage(message), (error) => {
      if (error && onError) onError(error)
    })
    return true
  }

  /** A message already encoded once for many connections (broadcast); same rules as send. */
  sendEncoded(text: string, onError?: (error: Error) => void): boolean {
    if (this.ws.readyState !== this.ws.OPEN || this.ws.bufferedAmount > MAX_BUFFERED_BYTES) return false
    this.ws.send(text, (error) => {
      if (error && onError) onError(error)
    })
    return true
  }

  request(message: Extract<ServerToAgent, {type: 'request'}>, timeoutMs: number): Promise<ResponseMessage> {
    if (!this.ready) return Promise.reject(new UnavailableError(`device "${this.serial}" is not connected`, {code: 'DEVICE_OFFLINE'}))
    if (this.pending.size >= MAX_PENDING_REQUESTS) {
      return Promise.reject(new UnavailableError(`device "${this.serial}" has too many requests in flight`, {code: 'DEVICE_BUSY'}))
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(message.id)
        reject(new UnavailableError(`device "${this.serial}" did not answer within ${timeoutMs} ms`, {code: 'DEVICE_TIMEOUT'}))
      }, timeoutMs)
      this.pending.set(message.id, {resolve, reject, timer})
      if (!this.send(message, (error) => this.settle(message.id, undefined, error))) {
        this.settle(message.id, undefined, new UnavailableError(`device "${this.serial}" connection is not writable`, {code: 'DEVICE_OFFLINE'}))
      }
    })
  }

  /**
   * A request already encoded once for many connections (broadcast): registers the wait
   * without a timer of its own; the caller settles it on its shared deadline.
   */
  requestEncoded(id: string, text: string): Promise<ResponseMessage> {
    if (!this.ready || this.pending.size >= MAX_PENDING_REQUESTS || this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      return Promise.reject(new UnavailableError(`device "${this.serial}" cannot take a request now`, {code: 'DEVICE_BUSY'}))
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve, reject})
      this.ws.send(text, (error) => {
        if (error) this.settle(id, undefined, error)
      })
    })
  }

  /** Delivers a response; false when nothing waits for that id (late or unknown). */
  settle(id: string, response?: ResponseMessage, error?: Error): boolean {
    const waiting = this.pending.get(id)
    if (!waiting) return false
    this.pending.delete(id)
    if (waiting.timer) clearTimeout(waiting.timer)
    if (response) waiting.resolve(response)
    else waiting.reject(error ?? new UnavailableError('request cancelled'))
    return true
  }

  /** Fails every request in flight (the connection closed). */
  failAll(reason: string): void {
    for (const id of [...this.pending.keys()]) {
      this.settle(id, undefined, new UnavailableError(`device "${this.serial}" disconnected (${reason})`, {code: 'DEVICE_OFFLINE'}))
    }
  }
}
