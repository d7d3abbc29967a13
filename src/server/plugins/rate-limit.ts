import {createHash} from 'node:crypto'
import type {TLSSocket} from 'node:tls'
import rateLimit from '@fastify/rate-limit'
import type {FastifyReply, FastifyRequest} from 'fastify'
import fp from 'fastify-plugin'
import type {Kysely} from 'kysely'
import {postgresRateLimitStore} from '../cluster/rate-limit-store.js'
import type {Database} from '../db/schema.js'

const WINDOW_MS = 60_000

export interface RateLimitOptions {
  /** Requests per minute per source address, and separately per user. */
  perMinute: number
  /** PostgreSQL: counters shared by every node (cluster/rate-limit-store.ts); absent: in memory, this node only. */
  shared?: Kysely<Database>
}

/**
 * Two budgets of `perMinute` requests a minute: one per source address (checked first, at
 * onRequest, before any work), one per user (checked at preHandler, once the auth plugin's
 * onRequest hook has named the principal), so one user cannot exhaust the server from many
 * addresses and one address cannot hide behind many accounts. On PostgreSQL the counters live in
 * the database, so several nodes behind a load balancer count together; on SQLite (one node)
 * they stay in memory.
 * Behind a proxy the source address comes from X-Forwarded-For only for trustProxy addresses.
 */
export const rateLimitPlugin = fp<RateLimitOptions>(
  async (app, {perMinute, shared}) => {
    await app.register(rateLimit, {
      ...(shared ? {store: postgresRateLimitStore(shared, WINDOW_MS, app.log), skipOnError: true} : {}),
      global: true,
      hook: 'onRequest',
      max: perMinute,
      timeWindow: WINDOW_MS,
      keyGenerator: sourceKey,
      errorResponseBuilder: (_request, context) => tooMany(context.after),
    })

    const userLimit = app.createRateLimit({max: perMinute, timeWindow: WINDOW_MS, keyGenerator: userKey})
    app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.routeOptions.config?.rateLimit === false || userKey(request) === '') return
      const verdict = await userLimit(request)
      if (verdict.isAllowed || !verdict.isExceeded) return
      reply.header('retry-after', verdict.ttlInSeconds)
      reply.header('x-ratelimit-limit', verdict.max)
      reply.header('x-ratelimit-remaining', 0)
      throw tooMany(`${verdict.ttlInSeconds} seconds`)
    })
  },
  {name: 'tether-rate-limit'},
)

/**
 * Who is asking, before any authentication: a device (or a peer node) that presented a client
 * certificate the TLS layer verified is one budget per certificate, so the hundreds of analysers a
 * hospital puts behind one NAT address do not share one address's budget when they all download
 * an update or upload logs; anyone else is counted by address.
 */
function sourceKey(request: FastifyRequest): string {
  const socket = request.raw.socket as Partial<TLSSocket>
  if (socket.authorized === true) {
    const fingerprint = socket.getPeerCertificate?.()?.fingerprint256
    if (fingerprint) return `cert:${fingerprint}`
  }
  return `ip:${request.ip}`
}

/**
 * The authenticated user; before (or without) the auth hook, a digest of the bearer token, so
 * that one credential is still one budget. Empty: anonymous, the per-address budget applies.
 */
function userKey(request: FastifyRequest): string {
  if (request.principal?.userId) return `user:${request.principal.userId}`
  const header = request.headers.authorization
  if (header?.toLowerCase().startsWith('bearer ')) return `token:${createHash('sha256').update(header.slice(7).trim()).digest('hex').slice(0, 32)}`
  return ''
}

function tooMany(after: string): Error & {statusCode: number} {
  const error = new Error(`too many requests; retry in ${after}`) as Error & {statusCode: number}
  error.statusCode = 429
  return error
}
