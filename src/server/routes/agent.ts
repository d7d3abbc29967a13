import type {FastifyPluginAsync} from 'fastify'
import {AgentEnrollRequest, AgentEnrollResponse} from '../../protocol/agent/enroll.js'
import {AuthError, TetherError} from '../../shared/errors.js'
import {auditedChange, auditRequest} from '../audit/plugin.js'
import {claimEnrollment, prepareEnrollment} from '../enrollment/service.js'

/** Enrollment attempts per minute per source address: tokens are unguessable, this caps noise. */
export const ENROLL_PER_MINUTE = 10

/**
 * Routes the agent calls. POST /agent/enroll has no user authentication: the one-time token
 * in the body is the credential. The control channel itself (GET /agent/connect, WebSocket)
 * is handled by the hub on the server's 'upgrade' event, not by a route.
 */
export const agentRoutes: FastifyPluginAsync = async (app) => {
  app.post(
    '/agent/enroll',
    {
      schema: {body: AgentEnrollRequest, response: {200: AgentEnrollResponse}},
      config: {rateLimit: {max: ENROLL_PER_MINUTE, timeWindow: 60_000}},
    },
    async (request) => {
      const body = request.body as AgentEnrollRequest
      try {
        const prepared = await prepareEnrollment(app.db, app.config, body)
        const result = await auditedChange(request, async (trx, record) => {
          const result = await claimEnrollment(trx, prepared)
          record({
            actorType: 'device',
            actor: result.serial,
            action: 'device.enrolled',
            outcome: 'success',
            deviceSerial: result.serial,
            customerId: result.device.customer_id,
            details: {fingerprint: result.fingerprint},
          })
          return result
        })
        const {device: _device, ...response} = result
        return response
      } catch (error) {
        if (error instanceof TetherError && (error instanceof AuthError || error.code === 'TOKEN_EXPIRED' || error.code === 'USAGE')) {
          await auditRequest(request, {actorType: 'system', actor: 'anonymous', action: 'device.enrolled', outcome: 'denied', details: {reason: error.message}})
        }
        throw error
      }
    },
  )
}
