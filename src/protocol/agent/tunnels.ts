import {z} from 'zod'

/**
 * Tunnels: every stream has its own connections, never multiplexed (application-level windows
 * are what cap other tools). The engineer's CLI opens TUNNEL_CONNECT_PATH on the server's HTTPS
 * port with its token; the server asks the agent, on the control channel, for `tunnel.open`;
 * the agent connects to the target, then dials TUNNEL_DATA_PATH with its device certificate and
 * the single-use ticket from the request. After each HTTP Upgrade (101, `Upgrade: tether-tunnel`)
 * both connections carry raw bytes and the server splices them.
 *
 * This file must not import messages.ts (messages.ts imports it).
 */

export const TUNNEL_UPGRADE_PROTOCOL = 'tether-tunnel'
/** The engineer's leg: `?port=22[&host=H][&reason=R]`, `Authorization: Bearer …`. */
export const TUNNEL_CONNECT_PATH = '/api/v1/devices/:serial/tunnel'
/** The device's leg: mTLS with the device certificate, the ticket in TUNNEL_TICKET_HEADER. */
export const TUNNEL_DATA_PATH = '/api/v1/agent/tunnels/:streamId'
export const TUNNEL_TICKET_HEADER = 'x-tether-ticket'

export function tunnelConnectPath(serial: string): string {
  return TUNNEL_CONNECT_PATH.replace(':serial', encodeURIComponent(serial))
}

export function tunnelDataPath(streamId: string): string {
  return TUNNEL_DATA_PATH.replace(':streamId', encodeURIComponent(streamId))
}

/** The device's own loopback: the default target, reachable only on allowedTunnelPorts. */
export const DEVICE_LOOPBACK = '127.0.0.1'

export const TunnelTarget = z.object({
  /** DEVICE_LOOPBACK, or a host on the device's network that the device allows as host:port. */
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
})
export type TunnelTarget = z.infer<typeof TunnelTarget>

export const TunnelOpenParams = z.object({
  streamId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  /** Single use, bound to this stream and device; valid for seconds. */
  ticket: z.string().min(16).max(128),
  target: TunnelTarget,
  /** The engineer's username (approvals are per engineer). */
  user: z.string().min(1).max(128),
  reason: z.string().max(200).optional(),
  /**
   * The server node that owns the stream (its node id). The agent dials the data leg with the TLS
   * server name nodeServerName(node), which a balancer in TCP passthrough can route on, so the
   * leg lands on that node instead of being forwarded to it (docs/tunnels.md "Several server
   * nodes"). Loose on purpose: an agent uses it only when it is a valid name (isNodeLabel), and an
   * older agent drops it (z.object strips unknown fields); an older server simply does not send it.
   */
  node: z.string().max(253).optional(),
})
export type TunnelOpenParams = z.infer<typeof TunnelOpenParams>

/** Answered ok once the target is connected and the data leg is up; errors name the layer. */
export const TunnelOpenRequest = z.object({
  type: z.literal('request'),
  id: z.string().min(1).max(128),
  kind: z.literal('tunnel.open'),
  params: TunnelOpenParams,
})
export type TunnelOpenRequest = z.infer<typeof TunnelOpenRequest>

/** Why the device ended a live stream (its policy or someone at it), besides the stream finishing by itself. */
export const DEVICE_END_REASONS = ['no-access', 'not-allowed', 'approval-ended', 'ended-on-device', 'agent-stopping'] as const
export type DeviceEndReason = (typeof DEVICE_END_REASONS)[number]

/**
 * Sent by the agent just before it cuts a stream itself, so the server can tell the engineer why
 * (the data leg's end alone reads as the stream finishing). Best effort: a server that does not
 * know the message answers UNKNOWN_TYPE, and without a control channel the stream simply ends.
 */
export const StreamEndingMessage = z.object({
  type: z.literal('stream-ending'),
  id: z.string().min(1).max(128).optional(),
  streamId: TunnelOpenParams.shape.streamId,
  why: z.enum(DEVICE_END_REASONS),
})
export type StreamEndingMessage = z.infer<typeof StreamEndingMessage>

/** The fixed suffix of a data leg's TLS server name: `.invalid` can never be a real host (RFC 2606). */
export const NODE_SERVER_NAME_SUFFIX = 'tether-node.invalid'

/** A node id usable in front of a server name: DNS-like labels (config.json's NodeId, no empty label). */
export function isNodeLabel(node: string): boolean {
  return node.length <= 200 && /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}(\.[A-Za-z0-9][A-Za-z0-9_-]{0,62})*$/.test(node)
}

/** The TLS server name that steers a data leg to `node` at the balancer: `node-1.tether-node.invalid`. */
export function nodeServerName(node: string): string {
  return `${node.toLowerCase()}.${NODE_SERVER_NAME_SUFFIX}`
}

export function formatTarget(target: TunnelTarget): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`
}
