import type {FastifyInstance} from 'fastify'
import {API_PREFIX} from '../../protocol/api/common.js'
import {accessPlugin} from '../access/plugin.js'
import {accessRoutes} from './access.js'
import {agentRoutes} from './agent.js'
import {agentUpdatesRoutes} from './agent-updates.js'
import {auditRoutes} from './audit.js'
import {authRoutes} from './auth.js'
import {diagnosticsRoutes} from './diagnostics.js'
import {enrollmentRoutes} from './enrollment.js'
import {jobsPlugin} from '../jobs/plugin.js'
import {logsPlugin} from '../logs/plugin.js'
import {jobsRoutes} from './jobs.js'
import {logsRoutes} from './logs.js'
import {nodesRoutes} from './nodes.js'
import {registryRoutes} from './registry.js'
import {ssoRoutes} from './sso.js'
import {tokensRoutes} from './tokens.js'
import {tunnelsRoutes} from './tunnels.js'
import {tunnelsPlugin} from '../tunnels/plugin.js'
import {updatesRoutes} from './updates.js'
import {uploadsRoutes} from './uploads.js'
import {updatesPlugin} from '../updates/plugin.js'
import {usersRoutes} from './users.js'

/** Every /api/v1 route family. Each file declares its own schemas and permissions. */
export async function registerApiRoutes(app: FastifyInstance): Promise<void> {
  // Services the diagnostics/logs routes use (named plugins with declared dependencies).
  await app.register(logsPlugin)
  await app.register(jobsPlugin)
  await app.register(tunnelsPlugin)
  await app.register(accessPlugin)
  await app.register(updatesPlugin)
  await app.register(
    async (api) => {
      await api.register(authRoutes)
      await api.register(ssoRoutes)
      await api.register(usersRoutes)
      await api.register(tokensRoutes)
      await api.register(registryRoutes)
      await api.register(auditRoutes)
      await api.register(enrollmentRoutes)
      await api.register(tunnelsRoutes)
      await api.register(agentRoutes)
      await api.register(jobsRoutes)
      await api.register(diagnosticsRoutes)
      await api.register(logsRoutes)
      await api.register(uploadsRoutes)
      await api.register(accessRoutes)
      await api.register(updatesRoutes)
      await api.register(agentUpdatesRoutes)
      await api.register(nodesRoutes)
    },
    {prefix: API_PREFIX},
  )
}
