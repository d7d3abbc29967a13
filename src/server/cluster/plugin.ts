import fp from 'fastify-plugin'
import {DatabasePresence} from './presence.js'
import {LeaseWriter, type DeviceLeases} from './leases.js'
import {NodeRegistry} from './nodes.js'
import {type NodeWake, PostgresWake, SingleNodeWake} from './wake.js'
import type {NodeTick} from './types.js'
import './types.js'

/** Buffered lease holds/releases are written this often (a device that said hello reads online on every node within it). */
const FLUSH_MS = 250
/** Leases of nodes dead this long are deleted (readers ignore them long before). */
const PRUNE_AFTER_MS = 3_600_000

declare module 'fastify' {
  interface FastifyInstance {
    /** This node's device leases; the hub holds and releases (leases.ts). */
    leases: DeviceLeases
    /** Wake the node holding a device (LISTEN/NOTIFY on PostgreSQL; nothing on SQLite): wake.ts. */
    wake: NodeWake
  }
}

/**
 * Node identity, device presence and wake-ups across nodes (issue #15, docs/operations.md
 * "Several nodes"). Leases last one agent heartbeat timeout and are renewed every third of it,
 * so a node that dies loses its devices within the heartbeat timeout with nobody cleaning up.
 */
export const clusterPlugin = fp(
  async (app) => {
    const {nodeId, peerAddress} = app.config.cluster
    const leaseMs = app.config.agents.heartbeatTimeoutMs
    const renewMs = Math.max(500, Math.min(5000, Math.floor(leaseMs / 3)))
    const leases = new LeaseWriter(app.db, nodeId, leaseMs, app.log)
    const registry = new NodeRegistry(app.db, {nodeId, peerAddress}, leaseMs, app.log)
    const wake: NodeWake = app.dbDialect === 'postgres' ? new PostgresWake(app.db, app.config.database, app.log) : new SingleNodeWake()
    const ticks = new Map<string, NodeTick>()
    app.decorate('nodeId', nodeId)
    app.decorate('nodeInstance', registry.instance)
    app.decorate('nodeTicks', {add: (name: string, tick: NodeTick) => void ticks.set(name, tick)})
    app.decorate('peerAddress', peerAddress)
    app.decorate('presence', new DatabasePresence(app.db))
    app.decorate('leases', leases)
    app.decorate('wake', wake)

    const agents = () => (app.hasDecorator('hub') ? app.hub.size : 0)
    let timer: NodeJS.Timeout | undefined
    let busy = false
    let lastRenew = 0
    let lastPrune = 0
    const tick = async (now: number) => {
      await leases.flush()
      if (now - lastRenew >= renewMs) {
        lastRenew = now
        await registry.renew({agents: agents()}, now)
        await leases.renew(now)
        for (const [name, work] of ticks) await work(now).catch((error: unknown) => app.log.warn({err: error, tick: name}, 'cluster: a node tick failed; retried next tick'))
      }
      if (now - lastPrune >= PRUNE_AFTER_MS) {
        lastPrune = now
        await app.db.deleteFrom('device_presence').where('lease_until', '<', new Date(now - PRUNE_AFTER_MS).toISOString()).execute()
      }
    }
    app.addHook('onReady', async () => {
      // Leases a crashed process of this id left behind must not be renewed by this one.
      await leases.dropAll()
      await registry.claim({agents: 0})
      lastRenew = Date.now()
      await wake.start()
      timer = setInterval(() => {
        if (busy) return
        busy = true
        tick(Date.now())
          .catch((error: unknown) => app.log.warn({err: error}, 'cluster: node heartbeat failed; retried next tick'))
          .finally(() => (busy = false))
      }, FLUSH_MS)
      timer.unref()
    })
    app.addHook('onClose', async () => {
      clearInterval(timer)
      await wake.stop()
      try {
        await leases.dropAll()
        await registry.retire()
      } catch (error) {
        app.log.warn({err: error}, 'cluster: could not retire this node; its leases run out instead')
      }
    })
  },
  {name: 'tether-cluster', dependencies: ['tether-db']},
)
