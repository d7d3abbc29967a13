import fp from 'fastify-plugin'
import {hubAnchoring} from './anchoring.js'
import {DeviceHub} from './hub.js'
import {UpgradeRouter} from './upgrade-routes.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Agent connections on this node (src/server/hub). */
    hub: DeviceHub
    /** The HTTP Upgrade endpoints (agent control channel, tunnel legs): upgrade-routes.ts. */
    upgrades: UpgradeRouter
  }
}

/**
 * app.hub and app.upgrades: the upgrade table attaches to the HTTPS server's 'upgrade' event
 * when the server listens. In preClose new upgrades are refused and agents are sent
 * `bye {reason:'shutdown'}` before the HTTP server waits for its connections (upgraded sockets
 * would otherwise hold the close open).
 */
export const hubPlugin = fp(
  async (app) => {
    const upgrades = new UpgradeRouter(app.log)
    const hub = new DeviceHub({db: app.db, audit: app.audit, log: app.log, anchoring: hubAnchoring(app), leases: app.leases}, app.config.agents)
    app.decorate('upgrades', upgrades)
    app.decorate('hub', hub)
    // Revoked on another node while connected here: cut it (a missed wake-up: cut every revoked device held here).
    app.wake.on('revoke', async (serial) => {
      if (serial !== null) return hub.disconnect(serial, 'revoked')
      const revoked = await app.db.selectFrom('devices').select('serial').where('revoked_at', 'is not', null).execute()
      for (const d of revoked) hub.disconnect(d.serial, 'revoked')
    })
    app.addHook('onReady', async () => {
      hub.attach(upgrades)
      upgrades.attach(app.server)
    })
    app.addHook('preClose', async () => {
      upgrades.close()
      await hub.close()
    })
  },
  {name: 'tether-hub', dependencies: ['tether-db', 'tether-audit', 'tether-cluster']},
)
