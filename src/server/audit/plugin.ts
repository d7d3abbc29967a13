import fp from 'fastify-plugin'
import './types.js'

/** Placeholder until the hash-chained audit log lands: refuses to run without it. */
export const auditPlugin = fp(
  async (app) => {
    app.decorate('audit', {
      async append() {
        throw new Error('audit log not implemented yet')
      },
    })
  },
  {name: 'tether-audit', dependencies: ['tether-db']},
)
