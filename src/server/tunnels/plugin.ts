import fp from 'fastify-plugin'
import {TUNNEL_CONNECT_PATH, TUNNEL_DATA_PATH} from '../../protocol/agent/tunnels.js'
import {LegForwarder} from '../peering/forward.js'
import {NodeCredentials} from '../peering/node-cert.js'
import {TunnelsAcrossNodes} from './across-nodes.js'
import {DataLegBroker} from './broker.js'
import {LocalTunnelDirectory, SharedTunnelDirectory, type TunnelDirectory} from './directory.js'
import {EngineerLeg} from './engineer-leg.js'
import {LegRouting} from './leg-routing.js'
import {LiveTunnels} from './live.js'
import {LostStreams} from './node-lost.js'
import {TunnelWatch} from './watch.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Live tunnel streams on this node (src/server/tunnels). */
    tunnels: LiveTunnels
    /** Live streams of every node: list and close from any node (across-nodes.ts). */
    tunnelsAcrossNodes: TunnelsAcrossNodes
  }
}

/**
 * Tunnels: two upgrade routes beside the agent control channel (the engineer's leg and the
 * device's data leg), the live streams, and the watch that ends them when permission ends.
 * A leg that lands on a node other than the device's is forwarded to that node (leg-routing.ts).
 * Every node's live streams are rows in live_tunnels (directory.ts), so any node lists and closes
 * them, and a surviving node audits the close of a dead node's streams (node-lost.ts), both on
 * the node's lease tick. On shutdown every stream is closed (and audited) before the server stops.
 */
export const tunnelsPlugin = fp(
  async (app) => {
    const live = new LiveTunnels()
    const nodeId = (): string => app.nodeId
    const credentials = await NodeCredentials.load(app.config.tls.caFile, nodeId)
    const forwarder = new LegForwarder(credentials, nodeId, app.log)
    const routing = new LegRouting(app, forwarder, credentials?.caFingerprint)
    const broker = new DataLegBroker(app.db, app.log, routing, (serial) => app.hub.isOnline(serial))
    // Several nodes share PostgreSQL; SQLite is one node, whose memory is the whole truth while it runs.
    const directory: TunnelDirectory =
      app.dbDialect === 'postgres' ? new SharedTunnelDirectory(app.db, app.audit, app.nodeId, app.nodeInstance) : new LocalTunnelDirectory(app.db, live, app.audit, app.nodeId, app.nodeInstance)
    const engineer = new EngineerLeg(app, broker, live, routing, directory)
    const across = new TunnelsAcrossNodes(live, directory, app.wake, nodeId, app.log)
    const lost = new LostStreams(directory, app.log)
    const watch = new TunnelWatch(app.db, live, app.config.tunnels.idleTimeoutSeconds * 1000, app.log)
    app.hub.onStreamEnding((serial, streamId, why) => engineer.deviceEnding(serial, streamId, why))
    app.decorate('tunnels', live)
    app.decorate('tunnelsAcrossNodes', across)
    app.wake.on('tunnels', () => across.closeRequested())
    app.nodeTicks.add('tunnels', async (now) => {
      await across.tick()
      await lost.sweep(now)
    })
    app.upgrades.add('tunnel engineer leg', TUNNEL_CONNECT_PATH, (req, socket, head, params) => engineer.accept(req, socket, head, params))
    app.upgrades.add('tunnel device leg', TUNNEL_DATA_PATH, (req, socket, head, params) => broker.accept(req, socket, head, params))
    app.addHook('onReady', async () => {
      // Streams a crashed process of this node (or any dead node) left open in the audit.
      await lost.sweep().catch((error: unknown) => app.log.warn({err: error}, 'tunnels: closing lost streams failed; retried on the next tick'))
      watch.start()
    })
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
