import type {FastifyBaseLogger} from 'fastify'
import type {Kysely} from 'kysely'
import {ProtocolErrorCodes, type ErrorMessage} from '../../protocol/agent/messages.js'
import type {Database} from '../db/schema.js'
import type {AgentConnection} from './connection.js'
import {pruneEventIds} from './events.js'
import type {PresenceWriter} from './presence.js'

const PRUNE_EVERY_MS = 3_600_000

export interface HeartbeatOptions {
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  helloTimeoutMs: number
  touchIntervalMs: number
}

/**
 * The hub's one timer, for every connection at once (no timer per connection: there are 10,000):
 * hello deadlines, pings, heartbeat timeouts, presence touches, and the hourly prune of old
 * device event ids.
 */
export class HeartbeatSweep {
  private lastTouch = Date.now()
  private lastPrune = 0

  constructor(
    private readonly options: HeartbeatOptions,
    private readonly deps: {db: Kysely<Database>; log: FastifyBaseLogger},
    private readonly presence: PresenceWriter,
    private readonly refuseBeforeHello: (c: AgentConnection, error: ErrorMessage) => void,
  ) {}

  tick(now: number, connections: Iterable<AgentConnection>): void {
    const {heartbeatIntervalMs, heartbeatTimeoutMs, helloTimeoutMs, touchIntervalMs} = this.options
    const touch = now - this.lastTouch >= touchIntervalMs
    if (touch) this.lastTouch = now
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now
      void this.prune(now)
    }
    for (const c of connections) {
      if (c.ending) continue
      if (c.state === 'awaiting-hello' && now - c.connectedAt > helloTimeoutMs) {
        this.refuseBeforeHello(c, {type: 'error', code: ProtocolErrorCodes.helloRequired, message: `no hello within ${helloTimeoutMs} ms`})
        continue
      }
      if (now - c.lastActivity > heartbeatTimeoutMs) {
        this.deps.log.warn({serial: c.serial, silentMs: now - c.lastActivity}, 'hub: heartbeat timeout; terminating')
        c.beginClose()
        c.ws.terminate()
        continue
      }
      if (now - c.lastPingAt >= heartbeatIntervalMs) {
        c.lastPingAt = now
        c.ws.ping()
      }
      if (touch && c.ready) this.presence.record(c.serial, new Date(c.lastActivity))
    }
  }

  /** Keeps agent_events bounded in time; a failure is retried at the next prune. */
  private async prune(now: number): Promise<void> {
    try {
      await pruneEventIds(this.deps.db, now)
    } catch (error) {
      this.deps.log.warn({err: error}, 'hub: pruning old agent event ids failed')
    }
  }
}
