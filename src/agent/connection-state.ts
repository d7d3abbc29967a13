import type {Clock} from './clock.js'

/**
 * The connection's life as an explicit state machine. `waiting` is the backoff pause between
 * attempts; `revoked` is a waiting state with a slow retry (the server refused this device's
 * certificate); `closed` is final (the agent is stopping).
 */
export type ConnectionState = 'initial' | 'connecting' | 'connected' | 'waiting' | 'revoked' | 'closed'

const ALLOWED: Record<ConnectionState, readonly ConnectionState[]> = {
  initial: ['connecting', 'closed'],
  connecting: ['connected', 'waiting', 'revoked', 'closed'],
  connected: ['waiting', 'revoked', 'closed'],
  waiting: ['connecting', 'closed'],
  revoked: ['connecting', 'closed'],
  closed: [],
}

export interface StateChange {
  from: ConnectionState
  to: ConnectionState
  at: number
  reason?: string
}

export class IllegalTransitionError extends Error {
  constructor(from: ConnectionState, to: ConnectionState) {
    super(`illegal connection state transition ${from} → ${to}`)
  }
}

export class ConnectionStateMachine {
  private current: ConnectionState = 'initial'
  private since: number
  private readonly listeners: Array<(change: StateChange) => void> = []

  constructor(private readonly clock: Clock) {
    this.since = clock.now()
  }

  get state(): ConnectionState {
    return this.current
  }

  /** When the current state was entered (clock ms). */
  get enteredAt(): number {
    return this.since
  }

  can(to: ConnectionState): boolean {
    return ALLOWED[this.current].includes(to)
  }

  /** Moves to `to` or throws: a wrong transition is a bug in the caller, never ignored. */
  transition(to: ConnectionState, reason?: string): StateChange {
    if (!this.can(to)) throw new IllegalTransitionError(this.current, to)
    const change: StateChange = {from: this.current, to, at: this.clock.now(), ...(reason ? {reason} : {})}
    this.current = to
    this.since = change.at
    for (const listener of this.listeners) listener(change)
    return change
  }

  onChange(listener: (change: StateChange) => void): void {
    this.listeners.push(listener)
  }
}
