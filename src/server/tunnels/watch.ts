import type {FastifyBaseLogger} from 'fastify'
import type {Kysely} from 'kysely'
import type {Database} from '../db/schema.js'
import type {CloseReason, LiveTunnel, LiveTunnels} from './live.js'

/** How often live streams are re-checked: "ends within a second" needs less than a second. */
export const WATCH_INTERVAL_MS = 400

/**
 * Ends live streams whose permission ended: the user was disabled or their credential revoked
 * (a revoked API token, or a session revoked by a token-epoch bump), the device was revoked, or
 * the stream sat idle too long. Checked against the database, not by hooks in the routes, so a
 * change made on any node (or by hand) takes effect here too. Three small queries per tick, and
 * none when no stream is live.
 */
export class TunnelWatch {
  private timer: NodeJS.Timeout | undefined
  private running = false

  constructor(
    private readonly db: Kysely<Database>,
    private readonly live: LiveTunnels,
    private readonly idleTimeoutMs: number,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), WATCH_INTERVAL_MS)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

  async check(now = Date.now()): Promise<void> {
    if (this.running || this.live.size === 0) return
    this.running = true
    try {
      const tunnels = this.live.all()
      const verdicts = await this.verdicts(tunnels)
      for (const t of tunnels) {
        const reason = verdicts.get(t.id) ?? (now - t.counters.lastActivity > this.idleTimeoutMs ? 'idle' : undefined)
        if (reason) t.close(reason)
      }
    } catch (error) {
      // The database is away: keep the streams (they were allowed) and try again next tick.
      this.log.warn({err: error}, 'tunnels: re-checking live streams failed')
    } finally {
      this.running = false
    }
  }

  private async verdicts(tunnels: LiveTunnel[]): Promise<Map<string, CloseReason>> {
    const userIds = [...new Set(tunnels.map((t) => t.userId))]
    const tokenIds = [...new Set(tunnels.flatMap((t) => (t.tokenId ? [t.tokenId] : [])))]
    const serials = [...new Set(tunnels.map((t) => t.serial))]
    const [users, tokens, devices] = await Promise.all([
      this.db.selectFrom('users').select(['id', 'disabled_at', 'token_epoch']).where('id', 'in', userIds).execute(),
      tokenIds.length === 0 ? [] : this.db.selectFrom('api_tokens').select(['id', 'revoked_at', 'expires_at']).where('id', 'in', tokenIds).execute(),
      this.db.selectFrom('devices').select(['serial', 'revoked_at']).where('serial', 'in', serials).execute(),
    ])
    const user = new Map(users.map((u) => [u.id, u]))
    const token = new Map(tokens.map((t) => [t.id, t]))
    const device = new Map(devices.map((d) => [d.serial, d]))
    const nowIso = new Date().toISOString()
    const out = new Map<string, CloseReason>()
    for (const t of tunnels) {
      const u = user.get(t.userId)
      const d = device.get(t.serial)
      if (!u || u.disabled_at !== null) out.set(t.id, 'user-disabled')
      else if (!d || d.revoked_at !== null) out.set(t.id, 'device-revoked')
      else if (t.tokenId) {
        const k = token.get(t.tokenId)
        if (!k || k.revoked_at !== null || k.expires_at <= nowIso) out.set(t.id, 'credentials-revoked')
      } else if (t.epoch !== null && u.token_epoch !== t.epoch) out.set(t.id, 'credentials-revoked')
    }
    return out
  }
}
