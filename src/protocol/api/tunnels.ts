import {z} from 'zod'
import {Timestamp} from './common.js'

// The engineer's leg is an HTTP Upgrade (src/protocol/agent/tunnels.ts: TUNNEL_CONNECT_PATH);
// its query is checked with this schema. A refusal is a plain HTTP answer with ErrorBody plus
// `layer`: server (auth, permission, scope), device (access mode, allowlist, approval),
// target (nothing listening), or network (device offline, setup timeout).
export const TunnelConnectQuery = z.strictObject({
  port: z.coerce.number().int().min(1).max(65535),
  /** A host on the device's network; default: the device's own loopback. */
  host: z.string().min(1).max(253).optional(),
  reason: z.string().max(200).optional(),
})
export type TunnelConnectQuery = z.infer<typeof TunnelConnectQuery>

export const TunnelLayer = z.enum(['server', 'device', 'target', 'network'])
export type TunnelLayer = z.infer<typeof TunnelLayer>

// GET /tunnels?device=SN (devices:read; in scope): live tunnel streams on every live server node.
export const TunnelListQuery = z.strictObject({device: z.string().max(128).optional()})

export const TunnelView = z.strictObject({
  id: z.string(),
  /** The server node carrying the stream (--node-id). */
  node: z.string(),
  user: z.string(),
  device: z.string(),
  target: z.string(),
  reason: z.string().nullable(),
  since: Timestamp,
  /** Bytes engineer → device and device → engineer so far (another node's: as of its last lease tick, every few seconds). */
  bytesToDevice: z.number().int().nonnegative(),
  bytesFromDevice: z.number().int().nonnegative(),
})
export type TunnelView = z.infer<typeof TunnelView>

export const TunnelList = z.strictObject({tunnels: z.array(TunnelView)})
export type TunnelList = z.infer<typeof TunnelList>

// DELETE /tunnels/:id: the owner, or devices:manage; on any node. 200 with the closed tunnel once
// its node confirmed (its row gone with the audited close), else TUNNEL_CLOSE_UNCONFIRMED.
export const TunnelIdParam = z.strictObject({id: z.string().min(1).max(64)})
