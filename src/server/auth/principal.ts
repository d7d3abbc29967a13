import type {preHandlerHookHandler} from 'fastify'
import type {Role} from '../db/schema.js'
import type {Permission} from './permissions.js'

/** Customers (and optionally single sites) a user may see; `all` for unscoped admins. */
export interface Scope {
  all: boolean
  entries: Array<{customerId: string; siteId: string | null}>
}

/** Who is calling, set by the auth plugin on every authenticated request. */
export interface Principal {
  auth: 'session' | 'api-token'
  userId: string
  username: string
  role: Role
  /** Effective permissions: the role's, narrowed to the token's for API tokens. */
  permissions: Permission[]
  scope: Scope
  tokenId?: string
  tokenName?: string
  /** Session of a user who must still enrol MFA: only /me and /me/mfa/* are open. */
  mfaEnrollmentRequired: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    /** null until the auth hook has run, and on unauthenticated routes. */
    principal: Principal | null
  }
  interface FastifyInstance {
    /**
     * preHandler that answers 401 without a valid principal and 403 without the permission.
     * byObject declares (for the route catalog) the further permission the handler demands by
     * the kind of object named; the handler checks it with requirePermission(byObject[kind]).
     */
    requirePermission(permission: Permission, byObject?: Readonly<Record<string, Permission>>): preHandlerHookHandler
    /** requirePermission for an interactive session only: API tokens get 403 even holding it (password reset). */
    requireSessionPermission(permission: Permission): preHandlerHookHandler
    /** preHandler that only requires a valid principal (any permission). */
    requireAuth: preHandlerHookHandler
    /** preHandler that requires an interactive session: API tokens get 403 (token management, MFA). */
    requireSession: preHandlerHookHandler
  }
}
