import type {FastifyRateLimitStore, FastifyRateLimitStoreCtor} from '@fastify/rate-limit'
import type {FastifyBaseLogger} from 'fastify'
import type {Kysely} from 'kysely'
import type {Database} from '../db/schema.js'

/**
 * Request counters in PostgreSQL, shared by every node: one row per key and fixed window,
 * incremented with one upsert per request (`INSERT … ON CONFLICT (key, window_start) DO UPDATE
 * SET hits = hits + 1 RETURNING hits`). Fixed windows aligned on the clock (not from each key's
 * first request) let nodes agree without sharing anything but the row. Old windows are deleted
 * at most once a window, by whichever node gets there. Every limit of the app uses `timeWindow` ms.
 * A route with its own limit (enrollment) gets a child store whose keys carry the route, so its
 * budget is counted apart from the global one, as the plugin's own stores do.
 */
export function postgresRateLimitStore(db: Kysely<Database>, timeWindow: number, log: FastifyBaseLogger): FastifyRateLimitStoreCtor {
  let lastPrune = 0
  const prune = (windowStart: number) => {
    if (windowStart - lastPrune < timeWindow) return
    lastPrune = windowStart
    db.deleteFrom('rate_limit_hits')
      .where('window_start', '<', windowStart - timeWindow)
      .execute()
      .catch((error: unknown) => log.warn({err: error}, 'rate limit: pruning old windows failed; retried next window'))
  }
  return class PostgresRateLimitStore implements FastifyRateLimitStore {
    constructor(
      _options?: unknown,
      private readonly prefix = '',
    ) {}

    incr(key: string, callback: (error: Error | null, result?: {current: number; ttl: number}) => void): void {
      const now = Date.now()
      const windowStart = Math.floor(now / timeWindow) * timeWindow
      db.insertInto('rate_limit_hits')
        .values({key: this.prefix + key, window_start: windowStart, hits: 1})
        .onConflict((oc) => oc.columns(['key', 'window_start']).doUpdateSet((eb) => ({hits: eb('rate_limit_hits.hits', '+', 1)})))
        .returning('hits')
        .executeTakeFirstOrThrow()
        .then(
          (row) => {
            prune(windowStart)
            callback(null, {current: row.hits, ttl: windowStart + timeWindow - now})
          },
          (error: unknown) => {
            // The plugin lets the request through (skipOnError): an unreachable database must not add 500s of its own.
            log.warn({err: error}, 'rate limit: counting in PostgreSQL failed; request not limited')
            callback(error as Error)
          },
        )
    }

    child(routeOptions: object): FastifyRateLimitStore {
      // The plugin passes the route's merged options; routeInfo names the route ({} for createRateLimit).
      const route = (routeOptions as {routeInfo?: {method?: string; url?: string}}).routeInfo
      return new PostgresRateLimitStore(routeOptions, `${this.prefix}${route?.method ?? ''}${route?.url ?? ''}|`)
    }
  }
}
