import type {FastifyReply, FastifyRequest, preHandlerHookHandler} from 'fastify'
import fp from 'fastify-plugin'
import {API_PREFIX} from '../../protocol/api/common.js'
import {AuthError, ForbiddenError, TetherError} from '../../shared/errors.js'
import {declareGuard} from './guards.js'
import {jwtKey, loadJwtSecret} from './jwt.js'
import {hasPermission, type Permission} from './permissions.js'
import type {Principal} from './principal.js'
import './principal.js'
import {SessionService} from './sessions.js'

export interface AuthPluginOptions {
  /** The access-token secret; default: read config.auth.jwtSecretFile once at start. */
  jwtSecret?: string | Uint8Array
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Sessions and bearer-token resolution (routes/auth.ts, tests). */
    sessions: SessionService
  }
}

/**
 * Routes that authenticate by their body (password, refresh token): a stale access token sent
 * along by a client must not turn a refresh into a 401, so the header is ignored there.
 */
const CREDENTIAL_ROUTES = new Set([
  `${API_PREFIX}/auth/login`,
  `${API_PREFIX}/auth/refresh`,
  `${API_PREFIX}/auth/logout`,
  `${API_PREFIX}/auth/sso/start`,
  `${API_PREFIX}/auth/sso/callback`,
  `${API_PREFIX}/auth/sso/totp`,
  `${API_PREFIX}/auth/sso/device/start`,
  `${API_PREFIX}/auth/sso/device/poll`,
])

/** Routes a session limited to MFA enrolment may use (route patterns, not raw URLs). */
const MFA_ENROLMENT_ROUTES = new Set([`${API_PREFIX}/me`, `${API_PREFIX}/me/mfa/enroll`, `${API_PREFIX}/me/mfa/confirm`])

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({error: {code, message}})
}

/**
 * Authentication and authorisation: resolves `Authorization: Bearer` (access JWT or API token)
 * into request.principal on every request, and provides the preHandlers routes declare:
 * requireAuth, requireSession, requirePermission(p) and requireSessionPermission(p). A bad credential is a 401 at once, even on routes
 * that do not need one, so clients notice expiry instead of silently being anonymous.
 */
export const authPlugin = fp<AuthPluginOptions>(
  async (app, options) => {
    const key = options.jwtSecret === undefined ? await loadJwtSecret(app.config.auth.jwtSecretFile) : jwtKey(options.jwtSecret)
    const sessions = new SessionService(app.db, key, app.config.auth, app.audit)
    app.decorate('sessions', sessions)
    app.decorateRequest('principal', null)

    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const header = request.headers.authorization
      if (header === undefined || CREDENTIAL_ROUTES.has(request.routeOptions.url ?? '')) return
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
      if (!match) return sendError(reply, 401, 'AUTH', 'the Authorization header must be "Bearer <token>"')
      let principal: Principal
      try {
        principal = await sessions.resolveBearer(match[1])
      } catch (error) {
        if (error instanceof TetherError && error instanceof AuthError) return sendError(reply, 401, error.code, error.message)
        throw error
      }
      request.principal = principal
      if (principal.mfaEnrollmentRequired && !MFA_ENROLMENT_ROUTES.has(request.routeOptions.url ?? '')) {
        return sendError(reply, 403, 'MFA_ENROLLMENT_REQUIRED', 'your role requires MFA: enrol with POST /me/mfa/enroll and /me/mfa/confirm, then log in again')
      }
    })

    const requireAuth: preHandlerHookHandler = async (request) => {
      if (!request.principal) throw new AuthError('authentication required: log in or send an API token')
    }
    // An API token is for scripts doing what its permissions say. Minting or revoking tokens and
    // enrolling MFA would let a leaked token outlive its revocation or lock its owner out.
    const requireSession: preHandlerHookHandler = async (request) => {
      const principal = request.principal
      if (!principal) throw new AuthError('authentication required: log in first (tether login)')
      if (principal.auth !== 'session') {
        await auditDenied(request, principal, {session: true})
        throw new ForbiddenError('an API token cannot do this: it is for an interactive login only (tether login)')
      }
    }
    const auditDenied = (request: FastifyRequest, principal: Principal, detail: Record<string, unknown>) =>
      app.audit.append({
        actorType: 'user',
        actor: principal.username,
        action: 'auth.denied',
        outcome: 'denied',
        sourceIp: request.ip,
        details: {...detail, method: request.method, route: request.routeOptions.url ?? request.url, ...(principal.tokenName ? {token: principal.tokenName} : {})},
      })

    app.decorate('requireAuth', declareGuard(requireAuth, {kind: 'auth'}))
    app.decorate('requireSession', declareGuard(requireSession, {kind: 'session'}))
    const permissionGuard = (permission: Permission, byObject?: Readonly<Record<string, Permission>>, sessionOnly = false): preHandlerHookHandler => {
      const guard: preHandlerHookHandler = async (request) => {
        const principal = request.principal
        if (!principal) throw new AuthError('authentication required: log in or send an API token')
        if (sessionOnly && principal.auth !== 'session') {
          await auditDenied(request, principal, {session: true, permission})
          throw new ForbiddenError('an API token cannot do this: it is for an interactive login only (tether login)')
        }
        if (hasPermission(principal.permissions, permission)) return
        await auditDenied(request, principal, {permission})
        throw new ForbiddenError(`permission "${permission}" required${principal.auth === 'api-token' ? ' (not granted to this API token)' : ` (role ${principal.role})`}`)
      }
      return declareGuard(guard, {kind: 'permission', permission, ...(byObject ? {byObject} : {}), ...(sessionOnly ? {session: true as const} : {})})
    }
    app.decorate('requirePermission', (permission: Permission, byObject?: Readonly<Record<string, Permission>>) => permissionGuard(permission, byObject))
    app.decorate('requireSessionPermission', (permission: Permission) => permissionGuard(permission, undefined, true))
  },
  {name: 'tether-auth', dependencies: ['tether-db', 'tether-audit']},
)
