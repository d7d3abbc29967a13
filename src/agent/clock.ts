/**
 * Time as the agent sees it. Injected everywhere the agent waits, so that tests drive
 * backoff, heartbeats and expiry without sleeping.
 */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

export interface TimerHandle {
  readonly id: unknown
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms)
    return {id: t}
  },
  clearTimeout(handle) {
    clearTimeout(handle.id as NodeJS.Timeout)
  },
}

/** A clock for tests: time moves only when advance() is called; due timers fire in order. */
export class ManualClock implements Clock {
  private time: number
  private seq = 0
  private readonly timers = new Map<number, {at: number; fn: () => void}>()

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq
    this.timers.set(id, {at: this.time + Math.max(0, ms), fn})
    return {id}
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle.id as number)
  }

  get pending(): number {
    return this.timers.size
  }

  advance(ms: number): void {
    const end = this.time + ms
    for (;;) {
      let next: [number, {at: number; fn: () => void}] | undefined
      for (const entry of this.timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry
      if (!next) break
      this.timers.delete(next[0])
      this.time = next[1].at
      next[1].fn()
    }
    this.time = end
  }
}
