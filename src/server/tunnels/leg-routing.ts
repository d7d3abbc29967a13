import type {IncomingMessage} from 'node:http'
import type {Duplex} from 'node:stream'
import type {FastifyInstance} from 'fastify'
import type {DeviceOwner} from '../cluster/types.js'
import {rejectUpgrade} from '../hub/upgrade.js'
import type {LegForwarder} from '../peering/forward.js'
import {FORWARDING_HEADERS, type ForwardedLeg, readForwarding} from '../peering/forwarded.js'

/** Serve the leg here (with what the forwarding node asserted, if it came from one), or not at all: it was forwarded or refused. */
export type LegRoute = {here: true; forwarded: ForwardedLeg | null; sourceIp: string | null} | {here: false}

export interface LegToRoute {
  /** The device: from the engineer's path, or proven by the data leg's certificate. */
  serial: string
  /** Whether this node can serve the leg (the device's control channel, or its stream, is here). */
  isHere: () => boolean
  /** How messages name the device. */
  what: string
  /** What the owner must be told when the leg is forwarded. */
  headers?: Record<string, string>
}

/**
 * Where a tunnel leg is served. A stream belongs to the node that holds the device's control
 * channel (its broker and its audit live there). A leg that lands elsewhere is forwarded there,
 * once: a forwarded leg for a device that is not here is refused, never forwarded again, so a
 * stale lease costs one refused attempt, not a loop between nodes.
 */
export class LegRouting {
  constructor(
    private readonly app: FastifyInstance,
    private readonly forwarder: LegForwarder,
    private readonly caFingerprint: string | undefined,
  ) {}

  private nodeId(): string {
    return this.app.nodeId
  }

  /** Decides for one leg, and forwards or refuses it when it is not to be served here. */
  async route(request: IncomingMessage, socket: Duplex, head: Buffer, leg: LegToRoute): Promise<LegRoute> {
    // Bytes the client sends early wait (paused) for whoever serves the leg: this node or the owner.
    socket.pause()
    const verdict = readForwarding(request, socket, this.caFingerprint)
    if (!verdict.ok) {
      rejectUpgrade(socket, 403, 'FORWARD_REFUSED', verdict.message, {layer: 'server'})
      return {here: false}
    }
    const sourceIp = verdict.forwarded?.clientAddress ?? request.socket.remoteAddress ?? null
    if (verdict.forwarded) {
      if (leg.isHere()) return {here: true, forwarded: verdict.forwarded, sourceIp}
      rejectUpgrade(socket, 503, 'DEVICE_MOVED', `${leg.what} is not connected to node "${this.nodeId()}" any more (a forwarded leg is not forwarded again): try again`, {layer: 'network'})
      return {here: false}
    }
    if (leg.isHere()) return {here: true, forwarded: null, sourceIp}
    const owner = await this.ownerOf(leg.serial)
    if (!owner || owner.nodeId === this.nodeId()) return {here: true, forwarded: null, sourceIp}
    await this.forwarder.forward(request, socket, head, owner, leg.what, {...leg.headers, ...(sourceIp ? {[FORWARDING_HEADERS.for]: sourceIp} : {})})
    return {here: false}
  }

  /** The node holding the device's control channel; null (serve here, which says offline) when the database does not answer. */
  private async ownerOf(serial: string): Promise<DeviceOwner | null> {
    try {
      return await this.app.presence.ownerOf(serial)
    } catch (error) {
      this.app.log.warn({err: error, serial}, 'tunnels: presence lookup failed; serving the leg here')
      return null
    }
  }
}
