import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import {ProtocolErrorCodes} from '../../protocol/agent/messages.js'
import {SerialParam} from '../../protocol/api/common.js'
import {OpenSessionRequest, OpenSessionView} from '../../protocol/api/enrollment.js'
import {ConflictError, TetherError} from '../../shared/errors.js'
import {auditRequest} from '../audit/plugin.js'
import {principalOf} from '../auth/request-context.js'
import {getDevice} from '../registry/service.js'

/**
 * POST /devices/:serial/sessions: asks the agent to open a remote session. The agent decides
 * (its local access mode wins over anything the server says); the answer is audited here and
 * on the device. The tunnel data path comes with a later issue.
 */
export const sessionsRoutes: FastifyPluginAsync = async (app) => {
  app.post(
    '/devices/:serial/sessions',
    {preHandler: app.requirePermission('tunnels:open'), schema: {params: SerialParam, body: OpenSessionRequest, response: {200: OpenSessionView}}},
    async (request) => {
      const {serial} = request.params as z.infer<typeof SerialParam>
      const params = request.body as OpenSessionRequest
      const device = await getDevice(app.db, principalOf(request).scope, serial)
      const audit = (outcome: 'success' | 'denied' | 'failure', details: Record<string, unknown>) =>
        auditRequest(request, {action: 'session.request', outcome, deviceSerial: serial, customerId: device.customer_id, details: {...params, ...details}})
      let response
      try {
        response = await app.hub.request(serial, {kind: 'session.open', params})
      } catch (error) {
        const code = error instanceof TetherError ? error.code : 'INTERNAL'
        await audit('failure', {error: code})
        throw error
      }
      if (response.ok) {
        await audit('success', {})
        return {accepted: true as const, ...(response.result === undefined ? {} : {result: response.result})}
      }
      const refusal = response.error ?? {code: ProtocolErrorCodes.refusedByDevice, message: 'the device refused the request'}
      await audit('denied', {refusal: refusal.code, message: refusal.message})
      throw new ConflictError(refusal.message, {code: refusal.code === ProtocolErrorCodes.portNotAllowed ? 'PORT_NOT_ALLOWED' : 'REFUSED_BY_DEVICE'})
    },
  )
}
