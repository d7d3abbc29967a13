import type {FastifyPluginAsync} from 'fastify'
import {TunnelIdParam, TunnelList, TunnelListQuery, TunnelView} from '../../protocol/api/tunnels.js'
import {ForbiddenError, NotFoundError} from '../../shared/errors.js'
import {hasPermission} from '../auth/permissions.js'
import {principalOf} from '../auth/request-context.js'
import {inScope} from '../auth/scope.js'
import {tunnelView} from '../tunnels/live.js'

/**
 * Live tunnels on this node: listed for anyone who may see the device (scope-filtered), closed
 * by their owner or by a user with devices:manage. The close itself is audited by the stream
 * (tunnel.close, why: closed-by-user, closedBy).
 */
export const tunnelsRoutes: FastifyPluginAsync = async (app) => {
  app.get('/tunnels', {preHandler: app.requirePermission('devices:read'), schema: {querystring: TunnelListQuery, response: {200: TunnelList}}}, async (request) => {
    const {scope} = principalOf(request)
    const {device} = request.query as {device?: string}
    const tunnels = app.tunnels.all().filter((t) => inScope(scope, t.customerId, t.siteId) && (device === undefined || t.serial === device))
    return {tunnels: tunnels.sort((a, b) => a.since - b.since).map(tunnelView)}
  })

  app.delete(
    '/tunnels/:id',
    {preHandler: app.requirePermission('tunnels:open'), schema: {params: TunnelIdParam, response: {200: TunnelView}}},
    async (request) => {
      const principal = principalOf(request)
      const {id} = request.params as {id: string}
      const tunnel = app.tunnels.get(id)
      if (!tunnel || !inScope(principal.scope, tunnel.customerId, tunnel.siteId)) throw new NotFoundError(`no live tunnel "${id}"`)
      if (tunnel.userId !== principal.userId && !hasPermission(principal.permissions, 'devices:manage')) {
        throw new ForbiddenError(`tunnel "${id}" belongs to ${tunnel.username}: only they or a user with devices:manage can close it`)
      }
      const view = tunnelView(tunnel)
      tunnel.close('closed-by-user', principal.username)
      return view
    },
  )
}
