import fp from 'fastify-plugin'
import {TUNNEL_CONNECT_PATH, TUNNEL_DATA_PATH} from '../../protocol/agent/tunnels.js'
import {LegForwarder} from '../peering/forward.js'
import {NodeCredentials} from '../peering/node-cert.js'
import {DataLegBroker} from './broker.js'
import {EngineerLeg} from './engineer-leg.js'
import {LegRouting} from './leg-routing.js'
import {LiveTunnels} from './live.js'
import {TunnelWatch} from './watch.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Live tunnel streams on this node (src/server/tunnels). */
    tunnels: LiveTunnels
  }
}

/**
 * Tunnels: two upgrade routes beside the agent control channel (the engineer's leg and the
 * device's data leg), the live streams, and the watch that ends them when permission ends.
 * A leg that lands on a node other than the device's is forwarded to that node (leg-routing.ts).
 * On shutdown every stream is closed (and audited) before the server stops.
 */
export const tunnelsPlugin = fp(
  async (app) => {
    const live = new LiveTunnels()
    const nodeId = (): string => app.nodeId
    const credentials = await NodeCredentials.load(app.config.tls.caFile, nodeId)
    const forwarder = new LegForwarder(credentials, nodeId, app.log)
    const routing = new LegRouting(app, forwarder, credentials?.caFingerprint)
    const broker = new DataLegBroker(app.db, app.log, routing, (serial) => app.hub.isOnline(serial))
    const engineer = new EngineerLeg(app, broker, live, routing)
    const watch = new TunnelWatch(app.db, live, app.config.tunnels.idleTimeoutSeconds * 1000, app.log)
    app.decorate('tunnels', live)
    app.upgrades.add('tunnel engineer leg', TUNNEL_CONNECT_PATH, (req, socket, head, params) => engineer.accept(req, socket, head, params))
    app.upgrades.add('tunnel device leg', TUNNEL_DATA_PATH, (req, socket, head, params) => broker.accept(req, socket, head, params))
    app.addHook('onReady', async () => watch.start())
    app.addHook('preClose', async () => {
      watch.stop()
      broker.close()
      forwarder.close()
      live.closeAll('server-shutdown')
      await engineer.drain()
    })
  },
  {name: 'tether-tunnels', dependencies: ['tether-db', 'tether-audit', 'tether-hub', 'tether-auth', 'tether-cluster']},
)
