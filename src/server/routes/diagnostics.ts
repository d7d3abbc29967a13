import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import type {Inventory} from '../../protocol/agent/messages.js'
import {SerialParam} from '../../protocol/api/common.js'
import {DEFAULT_JOB_TTL_SECONDS, DiagnosticCatalogue, JobView, RunDiagnosticRequest} from '../../protocol/api/jobs.js'
import {principalOf, fieldError} from '../auth/request-context.js'
import type {Device} from '../db/schema.js'
import {jobView} from '../jobs/service.js'
import {getDevice} from '../registry/service.js'
import {livePresenceOne} from '../cluster/device-online.js'

/** The live inventory when connected, else the one stored at the last connect. */
export function inventoryOf(app: {hub: {presenceOf(serial: string): {inventory: Inventory | null} | null}}, device: Device): Partial<Inventory> | null {
  const live = app.hub.presenceOf(device.serial)?.inventory
  if (live) return live
  return device.inventory ? (JSON.parse(device.inventory) as Partial<Inventory>) : null
}

/**
 * Diagnostics: only names from the device's catalogue (reported in its inventory) can be asked
 * for; there is no remote shell. The agent has the last word (it refuses unknown names too).
 */
export const diagnosticsRoutes: FastifyPluginAsync = async (app) => {
  app.get(
    '/devices/:serial/diagnostics',
    {preHandler: app.requirePermission('devices:read'), schema: {params: SerialParam, response: {200: DiagnosticCatalogue}}},
    async (request) => {
      const {serial} = request.params as z.infer<typeof SerialParam>
      const device = await getDevice(app.db, principalOf(request).scope, serial)
      const inventory = inventoryOf(app, device)
      return {serial, online: (await livePresenceOne(app, device)) !== null, diagnostics: inventory?.diagnostics ?? null, jobKinds: inventory?.jobKinds ?? null}
    },
  )

  app.post(
    '/devices/:serial/diagnostics',
    {preHandler: app.requirePermission('diagnostics:run'), schema: {params: SerialParam, body: RunDiagnosticRequest, response: {202: JobView}}},
    async (request, reply) => {
      const {serial} = request.params as z.infer<typeof SerialParam>
      const body = request.body as RunDiagnosticRequest
      const principal = principalOf(request)
      const device = await getDevice(app.db, principal.scope, serial)
      const catalogue = inventoryOf(app, device)?.diagnostics
      if (catalogue && !catalogue.includes(body.name)) {
        throw fieldError('body.name', `"${body.name}" is not in the diagnostics catalogue of ${serial} (${catalogue.join(', ')})`)
      }
      const job = await app.jobs.create(device, {
        kind: 'diagnostic',
        params: {name: body.name},
        requestedBy: principal.username,
        ttlSeconds: body.ttlSeconds ?? DEFAULT_JOB_TTL_SECONDS,
        sourceIp: request.ip,
      })
      return reply.code(202).send(jobView(job))
    },
  )
}
