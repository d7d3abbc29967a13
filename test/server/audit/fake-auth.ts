import fp from 'fastify-plugin'
import type {FastifyReply, FastifyRequest} from 'fastify'
import type {Permission} from '../../../src/server/auth/permissions.js'
import type {Principal} from '../../../src/server/auth/principal.js'
import '../../../src/server/auth/principal.js'

/**
 * Stands in for the real auth plugin (same name, same decorators) so the audit routes can be
 * tested on their own: the principal comes as JSON in the x-test-principal header.
 */
export const fakeAuthPlugin = fp(
  async (app) => {
    app.decorateRequest('principal', null)
    app.addHook('onRequest', async (request) => {
      const header = request.headers['x-test-principal']
      request.principal = typeof header === 'string' ? (JSON.parse(header) as Principal) : null
    })
    const deny = (reply: FastifyReply, status: number, code: string, message: string) => reply.code(status).send({error: {code, message}})
    app.decorate('requireAuth', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!request.principal) return deny(reply, 401, 'AUTH', 'authentication required')
    })
    app.decorate('requirePermission', (permission: Permission) => async (request: FastifyRequest, reply: FastifyReply) => {
      if (!request.principal) return deny(reply, 401, 'AUTH', 'authentication required')
      if (!request.principal.permissions.includes(permission)) return deny(reply, 403, 'FORBIDDEN', `needs ${permission}`)
    })
  },
  {name: 'tether-auth', dependencies: ['tether-db', 'tether-audit']},
)

export function principalHeader(overrides: Partial<Principal> = {}): Record<string, string> {
  const principal: Principal = {
    auth: 'session',
    userId: 'u1',
    username: 'alice',
    role: 'auditor',
    permissions: ['devices:read', 'audit:read'],
    scope: {all: true, entries: []},
    mfaEnrollmentRequired: false,
    ...overrides,
  }
  return {'x-test-principal': JSON.stringify(principal)}
}
