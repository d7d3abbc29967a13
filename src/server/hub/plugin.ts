import fp from 'fastify-plugin'
import {hubAnchoring} from './anchoring.js'
import {DeviceHub} from './hub.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Agent connections on this node (src/server/hub). */
    hub: DeviceHub
  }
}

/**
 * app.hub: attaches to the HTTPS server's 'upgrade' event when the server listens. Agents are
 * sent `bye {reason:'shutdown'}` in preClose, before the HTTP server waits for its
 * connections (upgraded sockets would otherwise hold the close open).
 */
export const hubPlugin = fp(
  async (app) => {
    const hub = new DeviceHub({db: app.db, audit: app.audit, log: app.log, anchoring: hubAnchoring(app)}, app.config.agents)
    app.decorate('hub', hub)
    app.addHook('onReady', async () => hub.attach(app.server))
    app.addHook('preClose', async () => hub.close())
  },
  {name: 'tether-hub', dependencies: ['tether-db', 'tether-audit']},
)
