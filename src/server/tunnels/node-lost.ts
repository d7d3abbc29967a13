import type {FastifyBaseLogger} from 'fastify'
import type {LiveTunnelRow} from '../db/schema.js'
import type {TunnelDirectory} from './directory.js'
import type {CloseReason} from './live.js'

const NODE_LOST: CloseReason = 'node-lost'

/**
 * Closes, in the audit, the streams of nodes that died (kill -9, a lost host) or restarted: their
 * tunnel.open is in the chain and nobody is left to write its tunnel.close. On SQLite (one node)
 * that is the node's own earlier process, found when it starts again. Every node runs this
 * on start and on its lease tick; each row is deleted and its close recorded in ONE transaction
 * (directory.recordLost), so when several survivors race for a row, one deletes it and records
 * the close, the others' delete waits on the row lock, finds nothing and records nothing. The bytes are those of the owner's
 * last counter refresh (its last tick before it died).
 */
export class LostStreams {
  constructor(
    private readonly directory: TunnelDirectory,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Returns how many closes this node recorded. */
  async sweep(now = Date.now()): Promise<number> {
    const lost = await this.directory.lost(now)
    let closed = 0
    for (const row of lost) {
      if (await this.close(row, now)) closed++
    }
    if (closed > 0) this.log.warn({closed}, 'tunnels: audited the close of streams whose server node was lost')
    return closed
  }

  private close(row: LiveTunnelRow, now: number): Promise<boolean> {
    return this.directory.recordLost(row, {
      action: 'tunnel.close',
      outcome: 'success',
      actorType: 'user',
      actor: row.username,
      sourceIp: row.source_ip,
      deviceSerial: row.serial,
      customerId: row.customer_id,
      details: {
        tunnelId: row.id,
        target: row.target,
        ...(row.reason ? {reason: row.reason} : {}),
        why: NODE_LOST,
        node: row.node_id,
        bytesToDevice: Number(row.bytes_to_device),
        bytesFromDevice: Number(row.bytes_from_device),
        durationMs: Math.max(0, now - Date.parse(row.since)),
      },
    })
  }
}
