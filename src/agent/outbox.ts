import {writeFileAtomic} from '../shared/atomic-file.js'
import type {AuditOutcome} from './local-audit.js'
import {readTextIfExists} from '../shared/optional-file.js'

/**
 * Events the server must record too (policy changes, refusals), kept on disk until the server
 * acknowledges them. Delivery is at-least-once from here; the eventId makes it exactly-once on
 * the server, which ignores an id it has already stored. The file survives restarts.
 *
 * Bound: at most `max` events. When full, the OLDEST undelivered event is dropped to make room
 * (the newest state matters most to the support center; every event is still in the device's
 * local audit, and the caller records the drop there).
 */
export interface OutboxEvent {
  eventId: string
  time: string
  action: string
  outcome: AuditOutcome
  details: Record<string, unknown>
}

export class Outbox {
  constructor(
    readonly path: string,
    readonly max = 1000,
  ) {}

  /** Adds an event; returns how many old events were dropped to respect the bound. Callers hold the data lock. */
  async enqueue(event: OutboxEvent): Promise<{dropped: number}> {
    const events = await this.pending()
    if (events.some((e) => e.eventId === event.eventId)) return {dropped: 0}
    events.push(event)
    const dropped = Math.max(0, events.length - this.max)
    await this.write(events.slice(dropped))
    return {dropped}
  }

  async pending(): Promise<OutboxEvent[]> {
    const text = await readTextIfExists(this.path)
    if (text === null) return []
    const events: OutboxEvent[] = []
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue
      try {
        events.push(JSON.parse(line) as OutboxEvent)
      } catch {
        // A torn line cannot come from the atomic rewrite; skip it rather than block the whole queue.
        continue
      }
    }
    return events
  }

  /** Removes acknowledged events. Callers hold the data lock. */
  async ack(eventIds: Iterable<string>): Promise<number> {
    const done = new Set(eventIds)
    const events = await this.pending()
    const left = events.filter((e) => !done.has(e.eventId))
    if (left.length !== events.length) await this.write(left)
    return events.length - left.length
  }

  private async write(events: OutboxEvent[]): Promise<void> {
    await writeFileAtomic(this.path, events.map((e) => `${JSON.stringify(e)}\n`).join(''), 0o600)
  }
}
