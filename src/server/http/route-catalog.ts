import type {FastifyInstance, FastifySchema, HTTPMethods} from 'fastify'
import {type Guard, guardOf} from '../auth/guards.js'

/** One registered route as the OpenAPI generator (scripts/openapi.ts) sees it. */
export interface CatalogRoute {
  method: HTTPMethods
  url: string
  schema: FastifySchema | undefined
  /** What the route's guard demands (requireAuth, requireSession, requirePermission, requireDevice); null: public. */
  guard: Guard | null
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered after useRouteCatalog, HEAD twins excluded. */
    routeCatalog: CatalogRoute[]
  }
}

/** Records routes with their schemas as they are registered (call before any route). */
export function useRouteCatalog(app: FastifyInstance): void {
  const routes: CatalogRoute[] = []
  app.decorate('routeCatalog', routes)
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const guard = guardOf(route.preValidation) ?? guardOf(route.preHandler)
    for (const method of methods) {
      if (method === 'HEAD' && route.exposeHeadRoute !== false && routes.some((r) => r.url === route.url && r.method === 'GET')) continue
      routes.push({method, url: route.url, schema: route.schema, guard})
    }
  })
}
