import {randomBytes} from 'node:crypto'
import type {LiveTunnelRow} from '../db/schema.js'
import type {TunnelView} from '../../protocol/api/tunnels.js'
import type {StreamCounters} from '../../shared/splice.js'

/**
 * A stream's id: 12 base64url characters that never start with "-" or "_", so that
 * `tether tunnels close ID` cannot read one as a flag (about 1 id in 32 did).
 */
export function newTunnelId(): string {
  for (let attempt = 0; attempt < 8; attempt++) {
    const id = randomBytes(9).toString('base64url')
    if (/^[A-Za-z0-9]/.test(id)) return id
  }
  return `t${randomBytes(9).toString('base64url').slice(1)}`
}

/** Why a stream ended, as the audit records it. */
export type CloseReason =
  | 'finished'
  | 'engineer-gone'
  | 'device-gone'
  | 'closed-by-user'
  | 'user-disabled'
  | 'credentials-revoked'
  | 'device-revoked'
  | 'idle'
  | 'server-shutdown'
  /** The node carrying it died or lost its lease: written by a surviving node (node-lost.ts). */
  | 'node-lost'

/** One live stream on this node. The credential's identity is kept to re-check it while it lives. */
export interface LiveTunnel {
  id: string
  serial: string
  customerId: string
  siteId: string | null
  userId: string
  username: string
  /** API token id, or null for an interactive session (then `epoch` is the user's token epoch). */
  tokenId: string | null
  epoch: number | null
  target: string
  reason: string | null
  since: number
  counters: StreamCounters
  /** Cuts the stream; the close is then audited once, with `by` when a user closed it. */
  close(reason: CloseReason, by?: string): void
}

/** The live streams of this node, by id. */
export class LiveTunnels {
  private readonly byId = new Map<string, LiveTunnel>()

  add(tunnel: LiveTunnel): void {
    this.byId.set(tunnel.id, tunnel)
  }

  remove(id: string): void {
    this.byId.delete(id)
  }

  get(id: string): LiveTunnel | undefined {
    return this.byId.get(id)
  }

  get size(): number {
    return this.byId.size
  }

  all(): LiveTunnel[] {
    return [...this.byId.values()]
  }

  closeAll(reason: CloseReason): void {
    for (const tunnel of this.all()) tunnel.close(reason)
  }
}

/** A stream this node carries, with its live counters. */
export function tunnelView(t: LiveTunnel, node: string): TunnelView {
  return {
    id: t.id,
    node,
    user: t.username,
    device: t.serial,
    target: t.target,
    reason: t.reason,
    since: new Date(t.since).toISOString(),
    bytesToDevice: t.counters.toDevice,
    bytesFromDevice: t.counters.fromDevice,
  }
}

/** A stream as its node last recorded it (the counters of its last lease tick). */
export function rowView(row: LiveTunnelRow): TunnelView {
  return {
    id: row.id,
    node: row.node_id,
    user: row.username,
    device: row.serial,
    target: row.target,
    reason: row.reason,
    since: new Date(row.since).toISOString(),
    bytesToDevice: Number(row.bytes_to_device),
    bytesFromDevice: Number(row.bytes_from_device),
  }
}
