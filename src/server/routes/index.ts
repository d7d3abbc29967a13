import type {FastifyInstance} from 'fastify'
import {API_PREFIX} from '../../protocol/api/common.js'
import {agentRoutes} from './agent.js'
import {auditRoutes} from './audit.js'
import {authRoutes} from './auth.js'
import {enrollmentRoutes} from './enrollment.js'
import {registryRoutes} from './registry.js'
import {sessionsRoutes} from './sessions.js'
import {tokensRoutes} from './tokens.js'
import {usersRoutes} from './users.js'

/** Every /api/v1 route family. Each file declares its own schemas and permissions. */
export async function registerApiRoutes(app: FastifyInstance): Promise<void> {
  await app.register(
    async (api) => {
      await api.register(authRoutes)
      await api.register(usersRoutes)
      await api.register(tokensRoutes)
      await api.register(registryRoutes)
      await api.register(auditRoutes)
      await api.register(enrollmentRoutes)
      await api.register(sessionsRoutes)
      await api.register(agentRoutes)
    },
    {prefix: API_PREFIX},
  )
}
