/**
 * The agent's own recent log lines, kept in memory for the `agent-log-tail` diagnostic (the
 * agent logs to stdout/journald, which the support center cannot read). Bounded ring.
 */
export interface RingEntry {
  time: string
  level: 'info' | 'warn' | 'error'
  msg: string
  data: Record<string, unknown>
}

export interface RingLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export class LogRing {
  private readonly entries: RingEntry[] = []

  constructor(private readonly max = 200) {}

  push(level: RingEntry['level'], obj: object, msg: string): void {
    // Values are cut so that one huge log object cannot fill the diagnostic's result.
    const data = Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, typeof v === 'string' ? v.slice(0, 500) : v]))
    this.entries.push({time: new Date().toISOString(), level, msg: msg.slice(0, 500), data})
    if (this.entries.length > this.max) this.entries.shift()
  }

  tail(n = this.max): RingEntry[] {
    return this.entries.slice(-n)
  }

  /** Wraps a logger: every line still goes to it, and a copy stays here. */
  wrap<T extends RingLog>(log: T): T {
    const wrapped = Object.create(log) as T
    for (const level of ['info', 'warn', 'error'] as const) {
      wrapped[level] = (obj: object, msg: string) => {
        this.push(level, obj, msg)
        log[level](obj, msg)
      }
    }
    return wrapped
  }
}
