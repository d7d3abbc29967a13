import type {FastifyPluginAsync} from 'fastify'
import {SerialParam} from '../../protocol/api/common.js'
import {CreateEnrollTokenRequest, EnrollTokenView, RevokeView} from '../../protocol/api/enrollment.js'
import type {z} from 'zod'
import {auditRequest} from '../audit/plugin.js'
import {principalOf} from '../auth/request-context.js'
import {createEnrollToken, revokeDevice} from '../enrollment/service.js'

/** Enrollment tokens (devices:enroll) and revocation (devices:manage), both within scope. */
export const enrollmentRoutes: FastifyPluginAsync = async (app) => {
  app.post(
    '/devices/enroll-tokens',
    {preHandler: app.requirePermission('devices:enroll'), schema: {body: CreateEnrollTokenRequest, response: {201: EnrollTokenView}}},
    async (request, reply) => {
      const principal = principalOf(request)
      const created = await createEnrollToken(app.db, principal.scope, principal.username, request.body as CreateEnrollTokenRequest)
      await auditRequest(request, {
        action: 'device.enroll-token.created',
        outcome: 'success',
        deviceSerial: created.device.serial,
        customerId: created.device.customer_id,
        details: {model: created.device.model, site: created.device.site_id, expiresAt: created.expiresAt},
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
      const result = await revokeDevice(app.db, principalOf(request).scope, serial)
      // Cut at once, also when the row was already revoked (a connection can never be legitimate then).
      const disconnected = app.hub.disconnect(serial, 'revoked')
      if (!result.alreadyRevoked) {
        await auditRequest(request, {
          action: 'device.revoked',
          outcome: 'success',
          deviceSerial: serial,
          customerId: result.device.customer_id,
          details: {disconnected},
        })
      }
      return {serial, revokedAt: result.revokedAt, disconnected}
    },
  )
}
