/**
 * Reconnect delays: exponential backoff with "full jitter" (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"): delay = random(0, min(cap, base * 2^attempt)).
 * Spreading each wave uniformly over the whole window is what keeps 10,000 agents from
 * arriving at once after a server restart.
 */
export interface BackoffOptions {
  baseMs: number
  capMs: number
  /** Injected for tests; returns a number in [0, 1). */
  random?: () => number
}

export const DEFAULT_BACKOFF: BackoffOptions = {baseMs: 1000, capMs: 60_000}

export class Backoff {
  private attempt = 0
  private readonly random: () => number

  constructor(private readonly options: BackoffOptions = DEFAULT_BACKOFF) {
    if (!(options.baseMs > 0) || !(options.capMs >= options.baseMs)) throw new RangeError('backoff: need 0 < baseMs <= capMs')
    this.random = options.random ?? Math.random
  }

  /** The ceiling of the window for the current attempt. */
  get windowMs(): number {
    // 2^attempt grows past the cap quickly; stop the exponent there so it never overflows.
    const exp = Math.min(this.attempt, 30)
    return Math.min(this.options.capMs, this.options.baseMs * 2 ** exp)
  }

  get attempts(): number {
    return this.attempt
  }

  /** The delay before the next try; each call widens the window until it reaches the cap. */
  next(): number {
    const delay = Math.floor(this.random() * this.windowMs)
    this.attempt++
    return delay
  }

  /** After a stable connection: the next failure starts again from the base window. */
  reset(): void {
    this.attempt = 0
  }
}
