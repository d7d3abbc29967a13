import type {FastifyError, FastifyInstance} from 'fastify'
import {TetherError} from '../../shared/errors.js'
import {RequestValidationError} from './zod-compilers.js'

const STATUS_BY_CODE: Record<string, number> = {
  USAGE: 400,
  AUTH: 401,
  MFA_REQUIRED: 401,
  FORBIDDEN: 403,
  MFA_ENROLLMENT_REQUIRED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  // The device agent (routes/agent.ts, sessions.ts).
  REFUSED_BY_DEVICE: 409,
  PORT_NOT_ALLOWED: 409,
  TOKEN_EXPIRED: 410,
  // Jobs and log uploads (routes/jobs.ts, uploads.ts, logs.ts).
  JOB_FINAL: 409,
  OFFSET_MISMATCH: 409,
  UPLOAD_BUSY: 409,
  UPLOAD_COMPLETE: 409,
  CHECKSUM_MISMATCH: 422,
  BUNDLE_TAMPERED: 500,
  KEY_UNAVAILABLE: 500,
  // A TOTP secret the MFA key does not open (src/server/auth/mfa-secret.ts).
  MFA_KEY: 500,
  DEVICE_OFFLINE: 503,
  DEVICE_BUSY: 503,
  DEVICE_TIMEOUT: 504,
  LOCKED: 423,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  WEAK_PASSWORD: 400,
  // The audit trail could not record a change, so the change was rolled back (audit/chain.ts).
  AUDIT_UNAVAILABLE: 503,
}

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
      // A code missing from the table is a bug: answered and logged as one, never a silent 400.
      const status = STATUS_BY_CODE[error.code]
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
