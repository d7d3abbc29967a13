import type {FastifyError, FastifyInstance} from 'fastify'
import {errorCodeEntry, TetherError} from '../../shared/errors.js'
import {RequestValidationError} from './zod-compilers.js'

/**
 * The one error handler: 4xx say what is wrong, 5xx hide internals and are logged.
 * Call after the rate-limit plugin so that unknown paths are limited as well.
 */
export function useErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | TetherError | RequestValidationError, request, reply) => {
    if (error instanceof RequestValidationError) {
      return reply.code(400).send({error: {code: 'USAGE', message: error.message, field: error.field}})
    }
    if (error instanceof TetherError) {
      // A code missing from the one table (src/shared/errors.ts) is a bug: answered and logged
      // as one, never a silent 400.
      const status = errorCodeEntry(error.code)?.status
      if (status === undefined) {
        request.log.error({err: error}, `error code ${error.code} has no HTTP status`)
        return reply.code(500).send({error: {code: 'INTERNAL', message: 'internal server error'}})
      }
      if (status >= 500) request.log.error({err: error}, 'service unavailable')
      const field = typeof error.details?.field === 'string' ? {field: error.details.field} : {}
      return reply.code(status).send({error: {code: error.code, message: error.message, ...field}})
    }
    const status = (error as FastifyError).statusCode ?? 500
    if (status < 500) {
      // fastify's own client errors: body too large, bad JSON, rate limit, unsupported media type.
      const code = status === 429 ? 'RATE_LIMITED' : status === 413 ? 'TOO_LARGE' : 'USAGE'
      const message = status === 413 ? `request body is larger than the limit of ${app.config.limits.bodyLimitBytes} bytes` : error.message
      return reply.code(status).send({error: {code, message}})
    }
    request.log.error({err: error}, 'request failed')
    return reply.code(500).send({error: {code: 'INTERNAL', message: 'internal server error'}})
  })
  // Unknown paths count against the rate limit too, so scanning is throttled like any request.
  const preHandler = app.hasDecorator('rateLimit') ? app.rateLimit() : undefined
  app.setNotFoundHandler({preHandler}, (request, reply) => {
    reply.code(404).send({error: {code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}`}})
  })
}
