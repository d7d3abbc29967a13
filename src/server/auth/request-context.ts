import type {FastifyRequest} from 'fastify'
import {AuthError, UsageError} from '../../shared/errors.js'
import {RequestValidationError} from '../http/zod-compilers.js'
import type {Principal} from './principal.js'

/** The principal of a route behind requireAuth/requirePermission (the preHandler guarantees it). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AuthError('authentication required')
  return request.principal
}

/** A 400 that names the request field (the error handler puts it in error.field). */
export function fieldError(field: string, message: string): RequestValidationError {
  return new RequestValidationError(`${field}: ${message}`, field)
}

/** Re-throws a UsageError that names a field (details.field) as a field error. */
export function asFieldError(error: unknown): unknown {
  if (error instanceof UsageError && typeof error.details?.field === 'string') {
    return new RequestValidationError(error.message, error.details.field)
  }
  return error
}
