import {randomBytes} from 'node:crypto'
import type {IncomingMessage} from 'node:http'
import type {Duplex} from 'node:stream'
import type {TLSSocket} from 'node:tls'
import type {FastifyInstance} from 'fastify'
import {DEVICE_LOOPBACK, type DeviceEndReason, formatTarget, TUNNEL_UPGRADE_PROTOCOL, type TunnelTarget} from '../../protocol/agent/tunnels.js'
import {TunnelConnectQuery} from '../../protocol/api/tunnels.js'
import {AuthError, errorCodeEntry, TetherError} from '../../shared/errors.js'
import {describeBadInput, findBadInput} from '../../shared/input-check.js'
import type {AuditInput} from '../audit/types.js'
import {hasPermission} from '../auth/permissions.js'
import type {Principal} from '../auth/principal.js'
import {rejectUpgrade} from '../hub/upgrade.js'
import {getDevice} from '../registry/service.js'
import type {DataLegBroker} from './broker.js'
import type {LegRouting} from './leg-routing.js'
import type {TunnelDirectory} from './directory.js'
import {type CloseReason, type LiveTunnel, type LiveTunnels, newTunnelId} from './live.js'
import {refusalFromDevice, TunnelRefusal} from './refusal.js'
import {splice, type SpliceEnd} from '../../shared/splice.js'
import {FRAMING_HEADER, FRAMING_VERSION} from '../../shared/tunnel-frames.js'
import {deviceEndMessage, endMessage} from './end-frame.js'

interface Opening {
  principal: Principal
  serial: string
  customerId: string
  siteId: string | null
  target: TunnelTarget
  reason: string | null
  /** The engineer's address (as the forwarding node saw it, for a forwarded leg). */
  source: string | null
}

/**
 * The engineer's leg (TUNNEL_CONNECT_PATH): checks the three server-side conditions (a valid
 * credential, `tunnels:open`, the device in the user's scope), asks the device for the stream,
 * waits for its data leg, answers 101 and splices. Every outcome is audited: tunnel.open,
 * tunnel.refused (with the layer that refused) and, when it ends, tunnel.close with the bytes
 * each way and the duration.
 */
export class EngineerLeg {
  constructor(
    private readonly app: FastifyInstance,
    private readonly broker: DataLegBroker,
    private readonly live: LiveTunnels,
    private readonly routing: LegRouting,
    private readonly directory: TunnelDirectory,
  ) {}

  async accept(request: IncomingMessage, socket: Duplex, head: Buffer, params: Record<string, string>): Promise<void> {
    const started = performance.now()
    // The stream is set up where the device's control channel is: another node's legs go there.
    const route = await this.routing.route(request, socket, head, {serial: params.serial, isHere: () => this.app.hub.isOnline(params.serial), what: `device "${params.serial}"`})
    if (!route.here) return
    const source = route.sourceIp
    // Bytes a client sends before our 101 wait here (paused) until the splice reads them.
    socket.pause()
    if (head.length > 0) socket.unshift(head)
    let opening: Partial<Opening> = {serial: params.serial, source}
    try {
      opening = await this.authorize(request, params.serial, source)
      const {device, streamId} = await this.openOnDevice(opening as Opening)
      if (socket.destroyed) {
        device.destroy()
        throw new TunnelRefusal(499, 'ENGINEER_GONE', 'network', 'the engineer disconnected during set-up')
      }
      await this.start(request, socket as TLSSocket, device, opening as Opening, performance.now() - started, streamId)
    } catch (error) {
      const refusal = error instanceof TunnelRefusal ? error : asRefusal(error)
      if (refusal.status >= 500 && !(error instanceof TunnelRefusal) && !(error instanceof TetherError)) this.app.log.error({err: error}, 'tunnels: set-up failed')
      await this.audit(request, opening, {action: 'tunnel.refused', outcome: refusal.layer === 'server' || refusal.layer === 'device' ? 'denied' : 'failure', details: {layer: refusal.layer, code: refusal.code, message: refusal.message}}).catch((e: unknown) =>
        this.app.log.error({err: e}, 'tunnels: could not audit a refusal'),
      )
      rejectUpgrade(socket, refusal.status, refusal.code, refusal.message, {layer: refusal.layer})
    }
  }

  private async authorize(request: IncomingMessage, serial: string, source: string | null): Promise<Opening> {
    const query = Object.fromEntries(new URL(request.url ?? '/', 'https://x').searchParams)
    const bad = findBadInput(query)
    if (bad) throw new TunnelRefusal(400, 'INVALID_REQUEST', 'server', describeBadInput(bad, '').message)
    const parsed = TunnelConnectQuery.safeParse(query)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new TunnelRefusal(400, 'INVALID_REQUEST', 'server', `${issue.path.join('.') || 'query'}: ${issue.message}`)
    }
    const header = request.headers.authorization
    const token = header ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined
    if (!token) throw new TunnelRefusal(401, 'AUTH', 'server', 'authentication required: log in or send an API token')
    const principal = await this.app.sessions.resolveBearer(token)
    if (principal.mfaEnrollmentRequired) throw new TunnelRefusal(403, 'MFA_ENROLLMENT_REQUIRED', 'server', 'your role requires MFA: enrol it, then log in again')
    const device = await getDevice(this.app.db, principal.scope, serial)
    const opening = {principal, serial, customerId: device.customer_id, siteId: device.site_id, target: {host: parsed.data.host ?? DEVICE_LOOPBACK, port: parsed.data.port}, reason: parsed.data.reason ?? null, source}
    if (!hasPermission(principal.permissions, 'tunnels:open')) {
      throw new TunnelRefusal(403, 'FORBIDDEN', 'server', `permission "tunnels:open" required${principal.auth === 'api-token' ? ' (not granted to this API token)' : ` (role ${principal.role})`}`)
    }
    if (device.revoked_at !== null) throw new TunnelRefusal(409, 'DEVICE_REVOKED', 'server', `device "${serial}" was revoked`)
    return opening
  }

  /** Asks the agent for the stream and waits for its data leg; both within the set-up timeout. */
  private async openOnDevice(o: Opening): Promise<{device: TLSSocket; streamId: string}> {
    if (!this.app.hub.isOnline(o.serial)) throw new TunnelRefusal(503, 'DEVICE_OFFLINE', 'network', `device "${o.serial}" is offline (its agent is not connected)`)
    const streamId = randomBytes(12).toString('base64url')
    const ticket = randomBytes(24).toString('base64url')
    const timeoutMs = this.app.config.tunnels.setupTimeoutMs
    const leg = this.broker.expect(streamId, o.serial, ticket, timeoutMs)
    leg.catch(() => undefined) // observed below; a refusal from the device cancels it first
    // `node`: the agent dials its data leg with a TLS server name naming this node, which the
    // documented balancer routes on, so the leg lands here rather than on a node forwarding it.
    const params = {streamId, ticket, target: o.target, user: o.principal.username, node: this.app.nodeId, ...(o.reason ? {reason: o.reason} : {})}
    let answer
    try {
      answer = await this.app.hub.request(o.serial, {kind: 'tunnel.open', params}, timeoutMs)
    } catch (error) {
      this.broker.cancel(streamId, error as Error)
      throw error
    }
    if (!answer.ok) {
      const refusal = refusalFromDevice(answer.error)
      this.broker.cancel(streamId, refusal)
      throw refusal
    }
    return {device: await leg, streamId}
  }

  /**
   * The device says it is about to cut one of its streams, and why (StreamEndingMessage): the
   * engineer's END frame then names the device's reason instead of a plain end.
   */
  deviceEnding(serial: string, streamId: string, why: DeviceEndReason): void {
    const stream = this.endingOnDevice.get(streamId)
    if (stream && stream.serial === serial) stream.why ??= why
  }

  /** Live streams of this node by the id the device knows them by (the serial guards against another device naming them). */
  private readonly endingOnDevice = new Map<string, {serial: string; why?: DeviceEndReason}>()

  private async start(request: IncomingMessage, socket: TLSSocket, device: TLSSocket, o: Opening, setupMs: number, streamId: string): Promise<void> {
    const id = newTunnelId()
    const target = formatTarget(o.target)
    const since = Date.now()
    const counters = {toDevice: 0, fromDevice: 0, lastActivity: since}
    const base = {tunnelId: id, target, ...(o.reason ? {reason: o.reason} : {})}
    let closeReason: CloseReason | null = null
    let closedBy: string | undefined
    let cut: () => void = () => device.destroy()
    const tunnel: LiveTunnel = {
      id, serial: o.serial, customerId: o.customerId, siteId: o.siteId, userId: o.principal.userId, username: o.principal.username,
      tokenId: o.principal.tokenId ?? null, epoch: o.principal.auth === 'session' ? await this.epochOf(o.principal.userId) : null,
      target, reason: o.reason, since, counters,
      close: (reason, by) => {
        closeReason ??= reason
        closedBy ??= by
        cut()
      },
    }
    try {
      // Known to every node exactly as long as the stream is audited open (directory.ts).
      await this.directory.recordOpen(tunnel, o.source ?? request.socket.remoteAddress ?? null, this.auditInput(request, o, {action: 'tunnel.open', outcome: 'success', details: {...base, setupMs: Math.round(setupMs)}}))
    } catch (error) {
      device.destroy()
      throw new TunnelRefusal(503, 'AUDIT_UNAVAILABLE', 'server', `the audit trail cannot record the tunnel, so it is not opened: ${(error as Error).message}`)
    }
    const onDevice: {serial: string; why?: DeviceEndReason} = {serial: o.serial}
    this.endingOnDevice.set(streamId, onDevice)
    let ended = false
    const end = (how: SpliceEnd): void => {
      if (ended) return
      ended = true
      this.live.remove(id)
      this.endingOnDevice.delete(streamId)
      const details = {...base, why: closeReason ?? how, ...(closedBy ? {closedBy} : {}), bytesToDevice: counters.toDevice, bytesFromDevice: counters.fromDevice, durationMs: Date.now() - since}
      this.track(this.auditClose(request, o, id, details).catch((e: unknown) => this.app.log.error({err: e, tunnelId: id}, 'tunnels: could not audit a close')))
    }
    // The CLI asked to be told how the stream ends (tunnel-frames.ts); raw clients get raw bytes.
    const framed = request.headers[FRAMING_HEADER.toLowerCase()] === FRAMING_VERSION
    const endFrame = (how: SpliceEnd) => {
      // The device's own reason, when it said one before its side ended (not when the engineer went).
      if (!closeReason && onDevice.why && how !== 'engineer-gone') return {reason: 'device-ended', by: onDevice.why, message: deviceEndMessage(onDevice.why)}
      const reason = closeReason ?? how
      return {reason, ...(closedBy ? {by: closedBy} : {}), message: endMessage(reason, closedBy)}
    }
    cut = splice(socket, device, counters, end, framed ? {endFrame} : undefined)
    this.live.add(tunnel)
    // A side that went while the open was being recorded has no 'close' left to tell the splice:
    // end it here, and cut the other side (its close then finds the stream ended).
    if (socket.destroyed || device.destroyed) {
      end(socket.destroyed ? 'engineer-gone' : 'device-gone')
      cut()
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_UPGRADE_PROTOCOL}\r\nX-Tether-Tunnel: ${id}\r\n${framed ? `${FRAMING_HEADER}: ${FRAMING_VERSION}\r\n` : ''}\r\n`)
  }

  /** Not recorded: a surviving node took this node for lost (its lease ran out) and audited the close as node-lost already. */
  private async auditClose(request: IncomingMessage, o: Opening, id: string, details: Record<string, unknown>): Promise<void> {
    const recorded = await this.directory.recordClose(id, this.auditInput(request, o, {action: 'tunnel.close', outcome: 'success', details}))
    if (!recorded) this.app.log.warn({tunnelId: id}, 'tunnels: the close of this stream was audited already (node-lost, by another node)')
  }

  /** Shutdown: waits (bounded) until every closed stream has been audited. */
  async drain(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.live.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    await Promise.all(this.pendingAudits)
  }

  private readonly pendingAudits = new Set<Promise<unknown>>()

  private track(work: Promise<unknown>): void {
    this.pendingAudits.add(work)
    void work.finally(() => this.pendingAudits.delete(work))
  }

  private async epochOf(userId: string): Promise<number | null> {
    const row = await this.app.db.selectFrom('users').select('token_epoch').where('id', '=', userId).executeTakeFirst()
    return row?.token_epoch ?? null
  }

  private audit(request: IncomingMessage, o: Partial<Opening>, input: Pick<AuditInput, 'action' | 'outcome' | 'details'>): Promise<unknown> {
    return this.app.audit.append(this.auditInput(request, o, input))
  }

  private auditInput(request: IncomingMessage, o: Partial<Opening>, input: Pick<AuditInput, 'action' | 'outcome' | 'details'>): AuditInput {
    return {
      ...input,
      actorType: o.principal ? 'user' : 'system',
      actor: o.principal?.username ?? 'anonymous',
      sourceIp: o.source ?? request.socket.remoteAddress ?? null,
      deviceSerial: o.customerId ? (o.serial ?? null) : null,
      customerId: o.customerId ?? null,
    }
  }
}

/** A typed error met during set-up, answered with its status from the one table (ERROR_CODES). */
function asRefusal(error: unknown): TunnelRefusal {
  if (error instanceof AuthError) return new TunnelRefusal(401, 'AUTH', 'server', error.message)
  if (error instanceof TetherError) {
    const status = errorCodeEntry(error.code)?.status ?? 500
    return new TunnelRefusal(status, error.code, status >= 500 ? 'network' : 'server', error.message)
  }
  return new TunnelRefusal(500, 'INTERNAL', 'server', 'the server could not set up the tunnel')
}
