import type {EventAckMessage} from '../protocol/agent/index.js'
import type {EventRecorder} from './events.js'
import type {ControlSession} from './session.js'

interface SenderLog {
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/**
 * Sends the outbox's events on the live session, each once per connection, and settles them when
 * the server acknowledges (or refuses them for good). After a reconnect everything not yet
 * acknowledged is sent again (`reset`): the server deduplicates by event id.
 */
export class OutboxSender {
  private readonly sent = new Set<string>()

  constructor(
    private readonly recorder: EventRecorder,
    private readonly log: SenderLog,
    /** How many events wait for an acknowledgement, for status.json. */
    private readonly onPending: (count: number) => void,
  ) {}

  reset(): void {
    this.sent.clear()
  }

  async flush(session: ControlSession | undefined): Promise<void> {
    const pending = await this.recorder.outbox.pending()
    this.onPending(pending.length)
    for (const event of pending) {
      if (this.sent.has(event.eventId) || !session) continue
      this.sent.add(event.eventId)
      session.sendEvent(event)
    }
  }

  /** Returns whether an event left the outbox. */
  async acked({eventId, refused}: EventAckMessage): Promise<boolean> {
    try {
      const event = await this.recorder.settle(eventId, refused)
      this.sent.delete(eventId)
      if (refused) this.log.warn({eventId, action: event?.action ?? null, code: refused.code, message: refused.message}, 'the server refused an event for good; dropped from the outbox')
      return Boolean(event)
    } catch (error) {
      this.log.error({err: (error as Error).message, eventId}, 'could not remove an acknowledged event from the outbox')
      return false
    }
  }
}
