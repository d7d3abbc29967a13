import {createHash, timingSafeEqual} from 'node:crypto'
import type {IncomingMessage} from 'node:http'
import type {Duplex} from 'node:stream'
import type {TLSSocket} from 'node:tls'
import type {FastifyBaseLogger} from 'fastify'
import type {Kysely} from 'kysely'
import {TUNNEL_TICKET_HEADER, TUNNEL_UPGRADE_PROTOCOL} from '../../protocol/agent/tunnels.js'
import {UnavailableError} from '../../shared/errors.js'
import {authenticateDevice} from '../auth/device-cert.js'
import type {Database} from '../db/schema.js'
import {rejectUpgrade} from '../hub/upgrade.js'
import {FORWARDING_HEADERS} from '../peering/forwarded.js'
import type {LegRouting} from './leg-routing.js'

interface Expected {
  serial: string
  ticketHash: Buffer
  resolve: (socket: TLSSocket) => void
  reject: (error: Error) => void
  timer: NodeJS.Timeout
}

const hash = (ticket: string): Buffer => createHash('sha256').update(ticket).digest()

/**
 * Where device data legs meet the stream that asked for them. A stream expects one leg: the
 * device that holds the certificate for its serial, presenting the stream's ticket. A ticket is
 * single use (forgotten on first use) and short-lived (the setup timeout), so a leaked ticket
 * is worth nothing, and a device can never attach to another device's stream.
 */
export class DataLegBroker {
  private readonly expected = new Map<string, Expected>()

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: FastifyBaseLogger,
    private readonly routing: LegRouting,
    /** Whether the device's control channel is on this node. */
    private readonly isOnline: (serial: string) => boolean,
  ) {}

  /** Resolves with the device's upgraded socket; rejects after timeoutMs or on cancel. */
  expect(streamId: string, serial: string, ticket: string, timeoutMs: number): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.cancel(streamId, new UnavailableError(`device "${serial}" did not dial back within ${timeoutMs} ms`, {code: 'TUNNEL_SETUP_TIMEOUT'})), timeoutMs)
      this.expected.set(streamId, {serial, ticketHash: hash(ticket), resolve, reject, timer})
    })
  }

  cancel(streamId: string, error: Error): void {
    const waiting = this.expected.get(streamId)
    if (!waiting) return
    this.expected.delete(streamId)
    clearTimeout(waiting.timer)
    waiting.reject(error)
  }

  /**
   * The upgrade handler of TUNNEL_DATA_PATH. The device proves itself with its certificate here,
   * or to the node that forwarded the leg (which says which device in FORWARDING_HEADERS.device,
   * believed only from a node certificate: leg-routing.ts). Either way the ticket binds the leg.
   */
  async accept(request: IncomingMessage, socket: Duplex, head: Buffer, params: Record<string, string>): Promise<void> {
    const asserted = request.headers[FORWARDING_HEADERS.device]
    let serial: string
    if (request.headers[FORWARDING_HEADERS.by] !== undefined || asserted !== undefined) {
      serial = typeof asserted === 'string' ? asserted : ''
    } else {
      const verdict = await authenticateDevice(socket, this.db)
      if (!verdict.ok) return rejectUpgrade(socket, verdict.status, verdict.code, verdict.message)
      serial = verdict.serial
    }
    const route = await this.routing.route(request, socket, head, {
      serial,
      isHere: () => this.expected.has(params.streamId) || this.isOnline(serial),
      what: `device "${serial}"`,
      headers: {[FORWARDING_HEADERS.device]: serial},
    })
    if (!route.here) return
    if (route.forwarded && !route.forwarded.device) return rejectUpgrade(socket, 403, 'FORWARD_REFUSED', `a forwarded data leg must name its verified device (${FORWARDING_HEADERS.device})`)
    const verdict = {serial}
    const waiting = this.expected.get(params.streamId)
    const ticket = request.headers[TUNNEL_TICKET_HEADER]
    const presented = typeof ticket === 'string' ? hash(ticket) : Buffer.alloc(32)
    // One answer for every mismatch: an unknown stream, another device's stream, a wrong or reused ticket.
    if (!waiting || waiting.serial !== verdict.serial || !timingSafeEqual(presented, waiting.ticketHash)) {
      this.log.warn({serial: verdict.serial, streamId: params.streamId}, 'tunnels: data leg refused (unknown stream or bad ticket)')
      return rejectUpgrade(socket, 403, 'TICKET_INVALID', 'no stream waits for this ticket')
    }
    this.expected.delete(params.streamId)
    clearTimeout(waiting.timer)
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_UPGRADE_PROTOCOL}\r\n\r\n`)
    // Held until the engineer's leg is spliced to it: the target may speak first (an SSH banner).
    socket.pause()
    if (head.length > 0) socket.unshift(head)
    waiting.resolve(socket as TLSSocket)
  }

  /** Server shutdown: every stream still being set up fails. */
  close(): void {
    for (const streamId of [...this.expected.keys()]) this.cancel(streamId, new UnavailableError('the server is shutting down', {code: 'SHUTTING_DOWN'}))
  }
}
