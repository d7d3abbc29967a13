import type {FastifyBaseLogger} from 'fastify'
import {type Kysely, sql} from 'kysely'
import type pg from 'pg'
import type {Database} from '../db/schema.js'

/**
 * Work another node may have to do for a device it holds, one PostgreSQL channel each. A feature
 * registers its handler with `on(channel, …)`; nothing else branches on the channel.
 */
export const WAKE_CHANNELS = {
  /** A job was queued: the owning node pushes the device's queued jobs. */
  jobs: 'tether_jobs',
  /** An access request was stored: the owning node delivers it. */
  access: 'tether_access',
  /** The device was revoked: the owning node cuts its connection. */
  revoke: 'tether_revoke',
  /** A live tunnel stream was asked to close (the payload is its id): the owning node closes it. */
  tunnels: 'tether_tunnels',
} as const
export type WakeKind = keyof typeof WAKE_CHANNELS

/** Called with the payload (the serial, or the id its channel names); also when notifications may have been missed (null). */
export type WakeHandler = (serial: string | null) => Promise<unknown>

export interface NodeWake {
  on(kind: WakeKind, handler: WakeHandler): void
  /** After the caller's transaction committed: wakes every node (this one too). */
  notify(kind: WakeKind, serial: string): Promise<void>
  start(): Promise<void>
  stop(): Promise<void>
}

/** SQLite is one node: whoever stores the work holds the device; nothing to wake. */
export class SingleNodeWake implements NodeWake {
  on(): void {}
  async notify(): Promise<void> {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

const MAX_BACKOFF_MS = 30_000

/**
 * LISTEN/NOTIFY on a dedicated connection (a pooled one would lose its LISTEN when returned).
 * The connection reconnects with backoff; after each (re)connect every handler runs with
 * serial=null so notifications sent while it was down only delay the work: the database stays
 * the source of truth and the periodic sweeps catch up anyway.
 */
export class PostgresWake implements NodeWake {
  private readonly handlers = new Map<WakeKind, WakeHandler>()
  private client: pg.Client | undefined
  private stopped = false
  private backoffMs = 500
  private retry: NodeJS.Timeout | undefined

  constructor(
    private readonly db: Kysely<Database>,
    private readonly url: string,
    private readonly log: FastifyBaseLogger,
  ) {}

  on(kind: WakeKind, handler: WakeHandler): void {
    this.handlers.set(kind, handler)
  }

  async notify(kind: WakeKind, serial: string): Promise<void> {
    try {
      await sql`select pg_notify(${WAKE_CHANNELS[kind]}, ${serial})`.execute(this.db)
    } catch (error) {
      // The sweep delivers it later; a failed wake-up must not fail the request that stored the work.
      this.log.warn({err: error, kind, serial}, 'cluster: NOTIFY failed; the sweep will deliver instead')
    }
  }

  async start(): Promise<void> {
    await this.connect()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.retry)
    const client = this.client
    this.client = undefined
    if (client) await client.end().catch((error: unknown) => this.log.debug({err: error}, 'cluster: closing the LISTEN connection failed'))
  }

  private async connect(): Promise<void> {
    if (this.stopped) return
    const {default: pgModule} = await import('pg')
    const client = new pgModule.Client({connectionString: this.url})
    client.on('notification', (message) => this.dispatch(message.channel, message.payload ?? null))
    client.on('error', (error) => this.lost(client, error))
    client.on('end', () => this.lost(client, new Error('connection ended')))
    try {
      await client.connect()
      for (const kind of this.handlers.keys()) await client.query(`LISTEN ${WAKE_CHANNELS[kind]}`)
    } catch (error) {
      this.lost(client, error as Error)
      return
    }
    this.client = client
    this.backoffMs = 500
    // Whatever was notified while we were not listening.
    for (const kind of this.handlers.keys()) this.run(kind, null)
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.stopped || (this.client !== undefined && this.client !== client)) return
    this.client = undefined
    // This client is done: only the reconnect below may schedule another attempt.
    client.removeAllListeners()
    client.on('error', (late) => this.log.debug({err: late}, 'cluster: late error on a dropped LISTEN connection'))
    client.end().catch((late: unknown) => this.log.debug({err: late}, 'cluster: ending a dropped LISTEN connection failed'))
    if (this.retry) return
    this.log.warn({err: error, retryMs: this.backoffMs}, 'cluster: the LISTEN connection was lost; reconnecting')
    this.retry = setTimeout(() => {
      this.retry = undefined
      void this.connect()
    }, this.backoffMs)
    this.retry.unref()
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2)
  }

  private dispatch(channel: string, serial: string | null): void {
    const kind = (Object.keys(WAKE_CHANNELS) as WakeKind[]).find((k) => WAKE_CHANNELS[k] === channel)
    if (kind) this.run(kind, serial)
  }

  private run(kind: WakeKind, serial: string | null): void {
    this.handlers.get(kind)?.(serial).catch((error: unknown) => this.log.warn({err: error, kind, serial}, 'cluster: a wake-up handler failed; the sweep retries'))
  }
}
