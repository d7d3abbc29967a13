import {sql} from 'kysely'
import fp from 'fastify-plugin'
import {z} from 'zod'

export const HealthBody = z.strictObject({status: z.enum(['ok', 'unavailable'])})

/**
 * Liveness and readiness for load balancers and orchestrators: no authentication, no rate
 * limit, and nothing in the answer beyond the status.
 */
export const healthPlugin = fp(
  async (app) => {
    const schema = {response: {200: HealthBody, 503: HealthBody}, tags: ['health']}
    app.get('/healthz', {schema: {...schema, summary: 'Liveness: the process answers'}, config: {rateLimit: false}}, async () => ({status: 'ok' as const}))
    app.get('/readyz', {schema: {...schema, summary: 'Readiness: the database answers select 1'}, config: {rateLimit: false}}, async (request, reply) => {
      try {
        await sql`select 1`.execute(app.db)
        return {status: 'ok' as const}
      } catch (error) {
        request.log.warn({err: error}, 'readiness check: database unreachable')
        return reply.code(503).send({status: 'unavailable' as const})
      }
    })
  },
  {name: 'tether-health', dependencies: ['tether-db']},
)
