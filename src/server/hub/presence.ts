import type {Kysely} from 'kysely'
import type {FastifyBaseLogger} from 'fastify'
import type {Database} from '../db/schema.js'

/** Serials per touch statement: one parameter each, far below SQLite's and PostgreSQL's limits. */
const TOUCH_CHUNK = 500

interface PendingWrite {
  lastSeenAt: string
  /** JSON inventory when it changed; undefined: only touch last_seen_at. */
  inventory?: string
  /** The inventory's softwareVersion (installed update version), when it reports one. */
  softwareVersion?: string
}

/**
 * Writes devices.last_seen_at and inventory in batches: at most one transaction per flush
 * interval whatever the number of agents, so 10,000 agents reconnecting at once cost a few
 * transactions, not 10,000 fsyncs. Pending writes are keyed by serial, so the buffer is bounded
 * by the number of devices (a newer write for a serial replaces the older one).
 */
export class PresenceWriter {
  private pending = new Map<string, PendingWrite>()
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<void> = Promise.resolve()

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: FastifyBaseLogger,
    private readonly flushIntervalMs = 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs)
    this.timer.unref()
  }

  record(serial: string, at: Date, inventory?: unknown): void {
    const previous = this.pending.get(serial)
    const reported = (inventory as {softwareVersion?: unknown} | undefined)?.softwareVersion
    this.pending.set(serial, {
      lastSeenAt: at.toISOString(),
      inventory: inventory === undefined ? previous?.inventory : JSON.stringify(inventory),
      softwareVersion: inventory === undefined ? previous?.softwareVersion : typeof reported === 'string' ? reported : undefined,
    })
  }

  /** Writes what is pending; concurrent calls queue behind each other. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write())
    return this.flushing
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.flush()
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return
    const batch = this.pending
    this.pending = new Map()
    // Touches (last_seen_at only: the heartbeat sweep's, every connected device each time) go as
    // one UPDATE per second of last activity and 500 serials: with 19,000 agents one statement per
    // device held the event loop ~0.5 s per sweep (bench/agent-fanin, issue #15).
    const touches = new Map<string, string[]>()
    const full: Array<[string, PendingWrite]> = []
    for (const [serial, write] of batch) {
      if (write.inventory !== undefined || write.softwareVersion !== undefined) full.push([serial, write])
      else {
        const second = write.lastSeenAt.slice(0, 19) + '.000Z'
        const serials = touches.get(second)
        if (serials) serials.push(serial)
        else touches.set(second, [serial])
      }
    }
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const [lastSeenAt, serials] of touches) {
          for (let i = 0; i < serials.length; i += TOUCH_CHUNK) {
            await trx.updateTable('devices').set({last_seen_at: lastSeenAt}).where('serial', 'in', serials.slice(i, i + TOUCH_CHUNK)).execute()
          }
        }
        for (const [serial, write] of full) {
          const set = write.inventory === undefined ? {last_seen_at: write.lastSeenAt} : {last_seen_at: write.lastSeenAt, inventory: write.inventory}
          // Deployments skip devices already on the version (src/server/rollouts/targets.ts).
          if (write.softwareVersion !== undefined) Object.assign(set, {software_version: write.softwareVersion})
          await trx.updateTable('devices').set(set).where('serial', '=', serial).execute()
        }
      })
    } catch (error) {
      // Presence is advisory: keep the newest values for the next flush rather than fail anything.
      for (const [serial, write] of batch) if (!this.pending.has(serial)) this.pending.set(serial, write)
      this.log.warn({err: error, devices: batch.size}, 'hub: presence write failed; will retry')
    }
  }
}
