import type {FastifyPluginAsync} from 'fastify'
import {SerialParam} from '../../protocol/api/common.js'
import {CreateEnrollTokenRequest, EnrollTokenView, RevokeView} from '../../protocol/api/enrollment.js'
import type {z} from 'zod'
import {auditedChange} from '../audit/plugin.js'
import {principalOf} from '../auth/request-context.js'
import {createEnrollToken, revokeDevice} from '../enrollment/service.js'

/** Enrollment tokens (devices:enroll) and revocation (devices:manage), both within scope. */
export const enrollmentRoutes: FastifyPluginAsync = async (app) => {
  app.post(
    '/devices/enroll-tokens',
    {preHandler: app.requirePermission('devices:enroll'), schema: {body: CreateEnrollTokenRequest, response: {201: EnrollTokenView}}},
    async (request, reply) => {
      const principal = principalOf(request)
      const created = await auditedChange(request, async (trx, record) => {
        const created = await createEnrollToken(trx, principal.scope, principal.username, request.body as CreateEnrollTokenRequest)
        const {device, expiresAt} = created
        record({action: 'device.enroll-token.created', outcome: 'success', deviceSerial: device.serial, customerId: device.customer_id, details: {model: device.model, site: device.site_id, expiresAt}})
        return created
      })
      return reply.code(201).send({
        serial: created.device.serial,
        model: created.device.model,
        customer: created.device.customer_id,
        site: created.device.site_id,
        token: created.token,
        expiresAt: created.expiresAt,
      })
    },
  )

  app.post(
    '/devices/:serial/revoke',
    {preHandler: app.requirePermission('devices:manage'), schema: {params: SerialParam, response: {200: RevokeView}}},
    async (request) => {
      const {serial} = request.params as z.infer<typeof SerialParam>
      // Connected to any node: the one holding it cuts it when woken below.
      const online = app.hub.isOnline(serial) || (await app.presence.isOnline(serial))
      const result = await auditedChange(request, async (trx, record) => {
        const result = await revokeDevice(trx, principalOf(request).scope, serial)
        if (!result.alreadyRevoked) record({action: 'device.revoked', outcome: 'success', deviceSerial: serial, customerId: result.device.customer_id, details: {disconnected: online}})
        return result
      })
      // Cut once the revocation is stored, also when it was stored before (a connection can never
      // be legitimate then); the agent's reconnect is refused by the stored revocation.
      const disconnected = app.hub.disconnect(serial, 'revoked')
      if (!disconnected) await app.wake.notify('revoke', serial)
      return {serial, revokedAt: result.revokedAt, disconnected: disconnected || online}
    },
  )
}
