import type {FastifyPluginAsync} from 'fastify'
import {NodeList, type NodeView} from '../../protocol/api/nodes.js'
import {liveNodes} from '../cluster/nodes.js'
import type {NodeRow} from '../db/schema.js'

export function nodeView(row: NodeRow, selfId: string, now = Date.now()): NodeView {
  return {
    id: row.id,
    peerAddress: row.peer_address,
    startedAt: row.started_at,
    heartbeatAt: row.heartbeat_at,
    leaseAgeMs: Math.max(0, now - Date.parse(row.heartbeat_at)),
    leaseUntil: row.lease_until,
    agents: row.agents,
    loadAverage: row.load_average,
    rssBytes: row.rss_bytes,
    self: row.id === selfId,
  }
}

/** GET /nodes: the live server nodes (devices:manage: operators of the service, not engineers). */
export const nodesRoutes: FastifyPluginAsync = async (app) => {
  app.get('/nodes', {preHandler: app.requirePermission('devices:manage'), schema: {response: {200: NodeList}}}, async () => {
    const now = Date.now()
    return {nodes: (await liveNodes(app.db, now)).map((row) => nodeView(row, app.nodeId, now))}
  })
}
