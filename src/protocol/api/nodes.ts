import {z} from 'zod'
import {Timestamp} from './common.js'

/** A live server node (GET /nodes, `tether server nodes`): docs/operations.md, "Several nodes". */
export const NodeView = z.strictObject({
  id: z.string(),
  /** HOST:PORT other nodes reach it at; null: it runs alone. */
  peerAddress: z.string().nullable(),
  startedAt: Timestamp,
  heartbeatAt: Timestamp,
  /** Milliseconds since its last heartbeat, as the answering node's clock sees it. */
  leaseAgeMs: z.number().int(),
  leaseUntil: Timestamp,
  /** Agents connected to it at its last heartbeat. */
  agents: z.number().int(),
  /** Its machine's 1-minute load average and its process RSS at its last heartbeat. */
  loadAverage: z.number(),
  rssBytes: z.number().int(),
  /** True for the node that answered. */
  self: z.boolean(),
})
export type NodeView = z.infer<typeof NodeView>

export const NodeList = z.strictObject({nodes: z.array(NodeView)})
export type NodeList = z.infer<typeof NodeList>
