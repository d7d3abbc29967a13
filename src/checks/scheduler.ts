/**
 * Bounded concurrency and the adaptive wait for unanswered SYNs.
 *
 * A SYN that gets no answer can only be called "filtered" after some wait. A fixed wait of
 * several seconds makes every firewalled port cost that much; nmap instead derives its wait
 * from round-trip times it has measured on the same run. So does this: once probes have
 * answered (SYN-ACK, RST or ICMP), a pending probe waits
 *
 *   max(HOST_FLOOR_MS, HOST_MULTIPLIER × slowest answer from the same address)   if that address answered
 *   max(RUN_FLOOR_MS,  RUN_MULTIPLIER  × slowest answer on the whole run)        otherwise
 *
 * never more than --timeout (and exactly --timeout while nothing has answered yet). When the
 * shortened wait expires the probe sends one more SYN (a second connect, the first one kept)
 * and waits the same again, so a single lost packet is not reported as a firewall.
 */
export const HOST_FLOOR_MS = 200
export const HOST_MULTIPLIER = 4
export const RUN_FLOOR_MS = 300
export const RUN_MULTIPLIER = 10
/** Connect attempts when the wait was shortened; with the full --timeout there is one. */
export const ADAPTIVE_ATTEMPTS = 2

export class RttTracker {
  private readonly byAddress = new Map<string, number>()
  private runMax: number | undefined
  private readonly listeners = new Set<() => void>()

  constructor(
    readonly timeoutMs: number,
    readonly adaptive = true,
  ) {}

  record(address: string, rttMs: number): void {
    if (!this.adaptive) return
    const before = this.byAddress.get(address)
    const host = Math.max(before ?? 0, rttMs)
    const run = Math.max(this.runMax ?? 0, rttMs)
    const changed = before === undefined || host !== before || this.runMax === undefined || run !== this.runMax
    this.byAddress.set(address, host)
    this.runMax = run
    if (!changed) return
    for (const listener of [...this.listeners]) listener()
  }

  /** How long a connect to `address` may stay unanswered before it counts as filtered. */
  waitFor(address: string): number {
    if (!this.adaptive) return this.timeoutMs
    const host = this.byAddress.get(address)
    if (host !== undefined) return Math.min(this.timeoutMs, Math.max(HOST_FLOOR_MS, HOST_MULTIPLIER * host))
    if (this.runMax !== undefined) return Math.min(this.timeoutMs, Math.max(RUN_FLOOR_MS, RUN_MULTIPLIER * this.runMax))
    return this.timeoutMs
  }

  /** Called whenever a new round-trip time may have shortened the waits; returns unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function runBounded<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index], index)
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, () => worker()))
  return results
}
