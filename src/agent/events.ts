import {randomUUID} from 'node:crypto'
import {checkDeviceEvent, type ResponseError} from '../protocol/agent/index.js'
import type {AgentFiles} from './data-dir.js'
import {withDataLock} from './data-lock.js'
import {LocalAudit, type LocalAuditEntry, type LocalAuditInput} from './local-audit.js'
import {Outbox, type OutboxEvent} from './outbox.js'

/**
 * One place that writes what happened on the device: always to the local audit, and for
 * events the server must also see, to the outbox with the same eventId — under one lock so the
 * running agent and `tether agent ...` commands never interleave.
 *
 * The server records only the `device.*` events of its registry (device-events.ts) and refuses
 * anything else for good. An event for the server that does not fit the registry is therefore a
 * bug in the agent: record() throws a TypeError before writing anything, so a test catches it
 * instead of a device quietly sending events the support center never records.
 */
export class EventRecorder {
  readonly audit: LocalAudit
  readonly outbox: Outbox

  constructor(
    private readonly files: AgentFiles,
    outboxMax = 1000,
  ) {
    this.audit = new LocalAudit(files.audit)
    this.outbox = new Outbox(files.outbox, outboxMax)
  }

  async record(input: Omit<LocalAuditInput, 'eventId'>, options: {forServer: boolean}): Promise<LocalAuditEntry> {
    checkForServer(input, options)
    return withDataLock(this.files.lock, () => this.write(input, options))
  }

  /**
   * A change to a data-dir file and its records under one lock, so another process never sees
   * the change without its audit lines (or the reverse). `plan` reads and decides; what it returns
   * is checked, then `save` writes the change, then the records are written. A throw from `plan`
   * changes and records nothing.
   */
  async recordChange<T>(plan: () => Promise<{result: T; save?: () => Promise<void>; records: RecordInput[]}>): Promise<T> {
    return withDataLock(this.files.lock, async () => {
      const {result, save, records} = await plan()
      for (const {options, ...input} of records) checkForServer(input, options)
      await save?.()
      for (const {options, ...input} of records) await this.write(input, options)
      return result
    })
  }

  /** Local audit line, and for the server the outbox entry with the same eventId. Callers hold the lock. */
  private async write(input: Omit<LocalAuditInput, 'eventId'>, options: {forServer: boolean}): Promise<LocalAuditEntry> {
    const eventId = options.forServer ? randomUUID() : undefined
    const entry = await this.audit.append({...input, ...(eventId ? {eventId} : {})})
    if (eventId) {
      const {dropped} = await this.outbox.enqueue({eventId, time: entry.time, action: entry.action, outcome: entry.outcome, details: serverDetails(entry.details, entry.actor)})
      if (dropped > 0) {
        await this.audit.append({action: 'agent.outbox.dropped', outcome: 'failure', actor: 'agent', details: {dropped, reason: `outbox full (${this.outbox.max} events); oldest undelivered events dropped`}})
      }
    }
    return entry
  }

  async ack(eventIds: string[]): Promise<number> {
    return withDataLock(this.files.lock, () => this.outbox.ack(eventIds))
  }

  /**
   * The server settled an event (`event-ack`): it leaves the outbox either way. A refusal is final
   * (resending would be refused again, forever), so it is written to the local audit in the same
   * locked step. Returns the event when it was still queued (a repeated ack finds nothing and
   * records nothing).
   */
  async settle(eventId: string, refused?: ResponseError): Promise<OutboxEvent | undefined> {
    return withDataLock(this.files.lock, async () => {
      const event = (await this.outbox.pending()).find((e) => e.eventId === eventId)
      if (!event) return undefined
      await this.outbox.ack([eventId])
      if (refused) {
        await this.audit.append({action: 'agent.event.refused', outcome: 'failure', actor: 'agent', details: {eventId, action: event.action, code: refused.code, message: refused.message}})
      }
      return event
    })
  }
}

export type RecordInput = Omit<LocalAuditInput, 'eventId'> & {options: {forServer: boolean}}

function checkForServer(input: Omit<LocalAuditInput, 'eventId'>, options: {forServer: boolean}): void {
  if (!options.forServer) return
  const check = checkDeviceEvent(input.action, serverDetails(input.details ?? {}, input.actor))
  if (!check.ok) throw new TypeError(`the server would refuse "${input.action}" (${check.code}): ${check.message}`)
}

/** What the server receives as an event's details: the local details plus the local actor. */
function serverDetails(details: Record<string, unknown>, actor: string): Record<string, unknown> {
  return {...details, actor}
}
