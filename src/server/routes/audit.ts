import type {FastifyPluginAsync} from 'fastify'

/** Routes under /api/v1 (placeholder until implemented). */
export const auditRoutes: FastifyPluginAsync = async () => {}
