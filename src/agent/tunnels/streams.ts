import {connect, type Socket} from 'node:net'
import {type DeviceEndReason, formatTarget, ProtocolErrorCodes, type AccessMode, type TunnelOpenRequest} from '../../protocol/agent/index.js'
import {splice, type StreamCounters} from '../../shared/splice.js'
import type {AgentConfig} from '../data-dir.js'
import type {EventRecorder} from '../events.js'
import type {ResponseBody} from '../session.js'
import type {DataLegDialer} from './data-leg.js'
import {decideTunnel} from './decide.js'
import {runSessionHook} from './session-hook.js'

/** A live remote session as `tether agent status` shows it. */
export interface SessionView {
  id: string
  user: string
  target: string
  reason: string | null
  since: string
  bytesToDevice: number
  bytesFromDevice: number
}

export type {DeviceEndReason} from '../../protocol/agent/index.js'

interface LiveStream {
  view: Omit<SessionView, 'bytesToDevice' | 'bytesFromDevice'>
  port: number
  host: string
  counters: StreamCounters
  endedBy: DeviceEndReason | null
  cut: () => void
}

export interface TunnelStreamsDeps {
  config: Pick<AgentConfig, 'allowedTunnelPorts' | 'allowedTunnelTargets' | 'sessionHook' | 'connectTimeoutMs'>
  recorder: EventRecorder
  log: {info(obj: object, msg: string): void; warn(obj: object, msg: string): void}
  dialData: DataLegDialer
  /** The access mode in force now (policy.json, expiry applied). */
  mode: () => Promise<AccessMode>
  /** The current approval of this engineer for this port (approval-required mode), or null. */
  grantFor: (user: string, port: number) => Promise<unknown>
  now: () => number
  /** A pending `agent sessions end` request, taken (removed) when read. */
  takeEndRequest: () => Promise<{ids: string[] | 'all'} | null>
  /** Tells the server why the device cuts a stream (false: no control channel to tell it on). */
  tellServer?: (streamId: string, why: DeviceEndReason) => boolean
  onChange?: () => void
}

/** While streams are live, policy and end requests are checked this often ("ends within a second"). */
const WATCH_MS = 250

/**
 * How long a stream the device ends stays up after the server was told why: the reason travels
 * on the control channel and the cut on the data leg, two connections, and the engineer should
 * hear the reason rather than a plain end. Short next to "ends within a second".
 */
const CUT_AFTER_TELLING_MS = 100

/** How long the target may take to accept: a service that is there answers at once. */
const TARGET_CONNECT_TIMEOUT_MS = 3000

/**
 * The device's side of tunnels: decides each `tunnel.open` (decide.ts), connects to the target
 * first (so "nothing listens there" is reported as the target's refusal), dials the data leg,
 * splices, and keeps the live streams so policy changes, expiries and local `sessions end` stop
 * them. Every start, end and refusal is in the local audit; refusals and device-side ends also
 * go to the server.
 */
export class TunnelStreams {
  private readonly live = new Map<string, LiveStream>()
  private watchTimer: NodeJS.Timeout | undefined
  private checking = false

  constructor(private readonly deps: TunnelStreamsDeps) {}

  list(): SessionView[] {
    return [...this.live.values()].map((s) => ({...s.view, bytesToDevice: s.counters.toDevice, bytesFromDevice: s.counters.fromDevice}))
  }

  get size(): number {
    return this.live.size
  }

  async open(request: TunnelOpenRequest): Promise<ResponseBody> {
    const {streamId, ticket, target, user, reason, node} = request.params
    const mode = await this.deps.mode()
    const decision = await decideTunnel({target, user}, mode, this.deps.config, this.deps.grantFor)
    const what = {requestId: request.id, target: 'tunnel', port: target.port, mode: mode.mode}
    if (!decision.allowed) {
      await this.deps.recorder.record({action: 'device.session.refused', outcome: 'denied', actor: 'server', details: {...what, code: decision.code, reason: `${decision.message} (user ${user}, target ${formatTarget(target)})`}}, {forServer: true})
      return {ok: false, error: {code: decision.code, message: decision.message}}
    }
    let targetSocket: Socket
    try {
      targetSocket = await connectTarget(target.host, target.port)
    } catch (error) {
      const message = `nothing accepts connections on ${formatTarget(target)} on the device (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`
      await this.deps.recorder.record({action: 'tunnel.failed', outcome: 'failure', actor: user, details: {streamId, target: formatTarget(target), code: ProtocolErrorCodes.targetRefused, reason: message}}, {forServer: false})
      return {ok: false, error: {code: ProtocolErrorCodes.targetRefused, message}}
    }
    let leg
    try {
      leg = await this.deps.dialData(streamId, ticket, node)
    } catch (error) {
      targetSocket.destroy()
      return {ok: false, error: {code: ProtocolErrorCodes.dataLegFailed, message: `the device could not dial the server for the stream: ${(error as Error).message}`}}
    }
    this.start(streamId, leg, targetSocket, {user, target: formatTarget(target), reason: reason ?? null, port: target.port, host: target.host})
    return {ok: true, result: {streamId}}
  }

  /** Ends streams the device no longer allows, and those someone at the device asked to end. */
  async recheck(): Promise<void> {
    if (this.live.size === 0 || this.checking) return
    this.checking = true
    try {
      const request = await this.deps.takeEndRequest()
      if (request) this.end(request.ids === 'all' ? 'all' : request.ids, 'ended-on-device')
      await this.recheckPolicy()
    } catch (error) {
      this.deps.log.warn({err: (error as Error).message}, 'checking live tunnels failed')
    } finally {
      this.checking = false
    }
  }

  private async recheckPolicy(): Promise<void> {
    const mode = await this.deps.mode()
    // Many streams of one engineer to one port share one grant lookup (a file read) per check.
    const grants = new Map<string, Promise<unknown>>()
    const grantFor = (user: string, port: number): Promise<unknown> => {
      const key = `${port} ${user}`
      if (!grants.has(key)) grants.set(key, this.deps.grantFor(user, port))
      return grants.get(key)!
    }
    for (const stream of this.live.values()) {
      const decision = await decideTunnel({target: {host: stream.host, port: stream.port}, user: stream.view.user}, mode, this.deps.config, grantFor)
      if (decision.allowed) continue
      const why: DeviceEndReason = decision.code === ProtocolErrorCodes.refusedByDevice ? 'no-access' : decision.code === ProtocolErrorCodes.approvalRequired ? 'approval-ended' : 'not-allowed'
      this.end(stream.view.id, why)
    }
  }

  /** Ends the streams named (or all); false when none of them is live. */
  end(ids: string | string[] | 'all', why: DeviceEndReason): boolean {
    const named = typeof ids === 'string' && ids !== 'all' ? [ids] : ids
    const targets = named === 'all' ? [...this.live.values()] : named.flatMap((id) => this.live.get(id) ?? [])
    for (const stream of targets) {
      if (stream.endedBy) continue
      stream.endedBy = why
      const told = this.deps.tellServer?.(stream.view.id, why) ?? false
      if (told) setTimeout(() => stream.cut(), CUT_AFTER_TELLING_MS).unref()
      else stream.cut()
    }
    return targets.length > 0
  }

  private start(id: string, leg: Socket, targetSocket: Socket, s: {user: string; target: string; reason: string | null; port: number; host: string}): void {
    const since = this.deps.now()
    const counters: StreamCounters = {toDevice: 0, fromDevice: 0, lastActivity: since}
    const view = {id, user: s.user, target: s.target, reason: s.reason, since: new Date(since).toISOString()}
    const stream: LiveStream = {view, port: s.port, host: s.host, counters, endedBy: null, cut: () => undefined}
    stream.cut = splice(leg, targetSocket, counters, (end) => void this.finished(stream, end))
    this.live.set(id, stream)
    this.watchTimer ??= setInterval(() => void this.recheck(), WATCH_MS)
    this.deps.onChange?.()
    const details = {streamId: id, target: s.target, ...(s.reason ? {reason: s.reason} : {})}
    void this.deps.recorder.record({action: 'tunnel.opened', outcome: 'success', actor: s.user, details}, {forServer: false}).catch((e: Error) => this.deps.log.warn({err: e.message}, 'could not record a tunnel start'))
    void runSessionHook(this.deps.config.sessionHook, {event: 'session.start', ...view}, this.deps.log)
  }

  private async finished(stream: LiveStream, end: string): Promise<void> {
    this.live.delete(stream.view.id)
    if (this.live.size === 0 && this.watchTimer) {
      clearInterval(this.watchTimer)
      this.watchTimer = undefined
    }
    this.deps.onChange?.()
    const endedAt = new Date(this.deps.now()).toISOString()
    const why = stream.endedBy ?? end
    const totals = {bytesToDevice: stream.counters.toDevice, bytesFromDevice: stream.counters.fromDevice}
    try {
      await this.deps.recorder.record({action: 'tunnel.closed', outcome: 'success', actor: stream.view.user, details: {streamId: stream.view.id, target: stream.view.target, why, ...totals, durationMs: Date.parse(endedAt) - Date.parse(stream.view.since)}}, {forServer: false})
      // The server sees the stream end; only the device knows it ended it, and why.
      if (stream.endedBy) await this.deps.recorder.record({action: 'device.session.ended', outcome: 'success', actor: stream.endedBy === 'ended-on-device' ? 'local' : 'agent', details: {streamId: stream.view.id, user: stream.view.user, target: stream.view.target, why: stream.endedBy}}, {forServer: true})
    } catch (error) {
      this.deps.log.warn({err: (error as Error).message}, 'could not record a tunnel end')
    }
    await runSessionHook(this.deps.config.sessionHook, {event: 'session.end', ...stream.view, endedAt, why, ...totals}, this.deps.log)
  }
}

function connectTarget(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({host, port, noDelay: true, allowHalfOpen: true})
    // Named like Node's own errno codes, so the refusal reads "(ETIMEDOUT)" as for a refused port.
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timed out'), {code: 'ETIMEDOUT'})), TARGET_CONNECT_TIMEOUT_MS)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeAllListeners('error')
      resolve(socket)
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}
