import Fastify, {type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions} from 'fastify'
import {auditPlugin} from './audit/plugin.js'
import {mfaPlugin} from './auth/mfa-plugin.js'
import {authPlugin} from './auth/plugin.js'
import type {ServerConfig} from './config.js'
import type {OpenedDatabase} from './db/connect.js'
import {dbPlugin} from './db/plugin.js'
import {useErrorHandler} from './http/error-handler.js'
import {useRouteCatalog} from './http/route-catalog.js'
import {useZodCompilers} from './http/zod-compilers.js'
import {clusterPlugin} from './cluster/plugin.js'
import {hubPlugin} from './hub/plugin.js'
import {healthPlugin} from './plugins/health.js'
import {rateLimitPlugin} from './plugins/rate-limit.js'
import {securityPlugin} from './plugins/security.js'
import {registerApiRoutes} from './routes/index.js'

export interface AppOptions {
  config: ServerConfig
  database: OpenedDatabase
  /** Fastify options: logger, https (server.ts sets TLS), limits. */
  fastify?: FastifyServerOptions & {https?: unknown}
}

/**
 * Assembles the server from its plugins. Tests call this with app.inject(); server.ts adds
 * TLS and the listener. Order matters only through the plugins' declared dependencies.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...options.fastify,
    bodyLimit: options.config.limits.bodyLimitBytes,
    // X-Forwarded-For is believed only from the configured load balancers.
    trustProxy: options.config.trustProxy.length > 0 ? options.config.trustProxy : false,
    // A body field we do not know is an error (zod strict), never silently dropped.
    ajv: {customOptions: {removeAdditional: false}},
    // Errors before routing (a URL that does not decode, e.g. %ff) get the documented shape too.
    frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const message = error.code === 'FST_ERR_BAD_URL' ? 'the URL does not decode (a bad %-escape); escape it as UTF-8' : error.message
      void reply.code(400).send({error: {code: 'USAGE', message}})
    },
  } as FastifyServerOptions)
  app.decorate('config', options.config)
  useRouteCatalog(app)
  useZodCompilers(app)
  await app.register(securityPlugin)
  await app.register(rateLimitPlugin, {
    perMinute: options.config.limits.rateLimitPerMinute,
    shared: options.database.dialect === 'postgres' ? options.database.db : undefined,
  })
  useErrorHandler(app)
  await app.register(dbPlugin, {opened: options.database})
  await app.register(healthPlugin)
  await app.register(auditPlugin)
  await app.register(mfaPlugin)
  await app.register(authPlugin)
  await app.register(clusterPlugin)
  await app.register(hubPlugin)
  await registerApiRoutes(app)
  return app
}
