/**
 * What a node knows about the cluster (several server nodes on one PostgreSQL, issue #15).
 * With SQLite there is one node: presence is still a table, but nobody else reads it.
 */

/** Where a device's control channel lives: the node holding its live lease. */
export interface DeviceOwner {
  nodeId: string
  /** HOST:PORT other nodes dial to reach that node; null when it runs alone (no --peer-address). */
  peerAddress: string | null
}

/** Device presence across nodes: a lease per connection, renewed with the heartbeats. */
export interface PresenceLookup {
  /** The node holding a live (unexpired) lease for this serial, or null: offline everywhere. */
  ownerOf(serial: string): Promise<DeviceOwner | null>
  /** True when some node holds a live lease for this serial. */
  isOnline(serial: string): Promise<boolean>
  /** Of these serials, those with a live lease on any node (one query). */
  onlineAmong(serials: readonly string[]): Promise<Set<string>>
}

/** This node's identity: `tether server start --node-id ID --peer-address HOST:PORT`. */
export interface NodeIdentity {
  nodeId: string
  peerAddress: string | null
}

/** Work a feature does on each lease renewal of this node (every third of the lease, 0.5 to 5 s). */
export type NodeTick = (now: number) => Promise<unknown>

/** Where features register their NodeTick (src/server/cluster/plugin.ts runs them, in order). */
export interface NodeTicks {
  add(name: string, tick: NodeTick): void
}

declare module 'fastify' {
  interface FastifyInstance {
    /** This node's id (--node-id, default: the hostname). */
    nodeId: string
    /** This process's random id (nodes.instance): tells its rows from a crashed predecessor's. */
    nodeInstance: string
    /** Work done on each lease renewal (after this node's lease is renewed). */
    nodeTicks: NodeTicks
    /** How other nodes reach this one (--peer-address HOST:PORT); null = single node. */
    peerAddress: string | null
    /** Device presence across all nodes (src/server/cluster/presence.ts). */
    presence: PresenceLookup
  }
}
