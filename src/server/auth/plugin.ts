import fp from 'fastify-plugin'
import './principal.js'

/** Placeholder until authentication lands: every protected route answers 401. */
export const authPlugin = fp(
  async (app) => {
    app.decorateRequest('principal', null)
    const deny = async (_request: unknown, reply: {code(n: number): {send(b: unknown): unknown}}) =>
      reply.code(401).send({error: {code: 'AUTH', message: 'authentication required'}})
    app.decorate('requireAuth', deny as never)
    app.decorate('requirePermission', () => deny as never)
  },
  {name: 'tether-auth', dependencies: ['tether-db', 'tether-audit']},
)
