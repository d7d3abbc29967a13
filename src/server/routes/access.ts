import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import {AccessRequestList, AccessRequestQuery, AccessRequestView, CreateAccessRequest} from '../../protocol/api/access.js'
import {IdParam, SerialParam} from '../../protocol/api/common.js'
import {ConflictError} from '../../shared/errors.js'
import {accessRequestView} from '../access/service.js'
import {principalOf} from '../auth/request-context.js'
import {getDevice} from '../registry/service.js'

/**
 * Just-in-time access requests (docs/access-requests.md): asking needs tunnels:open on a device
 * in scope (out of scope is 404); seeing requests needs devices:read and is scope-filtered.
 */
export const accessRoutes: FastifyPluginAsync = async (app) => {
  const read = app.requirePermission('devices:read')

  app.post(
    '/devices/:serial/access-requests',
    {preHandler: app.requirePermission('tunnels:open'), schema: {params: SerialParam, body: CreateAccessRequest, response: {201: AccessRequestView}}},
    async (request, reply) => {
      const {serial} = request.params as z.infer<typeof SerialParam>
      const principal = principalOf(request)
      const device = await getDevice(app.db, principal.scope, serial)
      if (device.revoked_at !== null) throw new ConflictError(`device "${serial}" is revoked: it can no longer be reached`)
      const created = await app.access.create(device, {...(request.body as CreateAccessRequest), requestedBy: principal.username, sourceIp: request.ip})
      return reply.code(201).send(accessRequestView(created))
    },
  )

  app.get('/access-requests', {preHandler: read, schema: {querystring: AccessRequestQuery, response: {200: AccessRequestList}}}, async (request) => ({
    requests: (await app.access.list(principalOf(request).scope, request.query as AccessRequestQuery)).map(accessRequestView),
  }))

  app.get('/access-requests/:id', {preHandler: read, schema: {params: IdParam, response: {200: AccessRequestView}}}, async (request) => {
    const {id} = request.params as z.infer<typeof IdParam>
    return accessRequestView(await app.access.get(principalOf(request).scope, id))
  })
}
