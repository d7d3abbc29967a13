import type {FastifyPluginAsync} from 'fastify'
import {TunnelIdParam, TunnelList, TunnelListQuery, TunnelView} from '../../protocol/api/tunnels.js'
import {principalOf} from '../auth/request-context.js'

/**
 * Live tunnels of every live node, answered by any node: listed for anyone who may see the
 * device (scope-filtered), closed by their owner or by a user with devices:manage. The close
 * itself is audited by the node carrying the stream (tunnel.close, why: closed-by-user,
 * closedBy); see src/server/tunnels/across-nodes.ts.
 */
export const tunnelsRoutes: FastifyPluginAsync = async (app) => {
  app.get('/tunnels', {preHandler: app.requirePermission('devices:read'), schema: {querystring: TunnelListQuery, response: {200: TunnelList}}}, async (request) => {
    const {device} = request.query as {device?: string}
    return {tunnels: await app.tunnelsAcrossNodes.list(principalOf(request).scope, device)}
  })

  app.delete('/tunnels/:id', {preHandler: app.requirePermission('tunnels:open'), schema: {params: TunnelIdParam, response: {200: TunnelView}}}, async (request) =>
    app.tunnelsAcrossNodes.close(principalOf(request), (request.params as {id: string}).id),
  )
}
