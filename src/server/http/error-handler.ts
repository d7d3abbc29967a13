import type {FastifyError, FastifyInstance} from 'fastify'
import {TetherError} from '../../shared/errors.js'
import {RequestValidationError} from './zod-compilers.js'

const STATUS_BY_CODE: Record<string, number> = {
  USAGE: 400,
  AUTH: 401,
  MFA_REQUIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LOCKED: 423,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
}

/** The one error handler: 4xx say what is wrong, 5xx hide internals and are logged. */
export function useErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | TetherError | RequestValidationError, request, reply) => {
    if (error instanceof RequestValidationError) {
      return reply.code(400).send({error: {code: 'USAGE', message: error.message, field: error.field}})
    }
    if (error instanceof TetherError) {
      const status = STATUS_BY_CODE[error.code] ?? 400
      if (status >= 500) request.log.error({err: error}, 'service unavailable')
      return reply.code(status).send({error: {code: error.code, message: error.message}})
    }
    const status = (error as FastifyError).statusCode ?? 500
    if (status < 500) {
      // fastify's own client errors: body too large, bad JSON, rate limit, unsupported media type.
      const code = status === 429 ? 'RATE_LIMITED' : status === 413 ? 'TOO_LARGE' : 'USAGE'
      return reply.code(status).send({error: {code, message: error.message}})
    }
    request.log.error({err: error}, 'request failed')
    return reply.code(500).send({error: {code: 'INTERNAL', message: 'internal server error'}})
  })
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({error: {code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}`}})
  })
}
