import type {Kysely} from 'kysely'
import type {Database} from '../db/schema.js'
import type {DeviceOwner, PresenceLookup} from './types.js'

/** Above this many serials one query for every live lease beats chunked IN lists. */
const ALL_LIVE_ABOVE = 500

/**
 * Device presence as every node sees it: a device is online when some node holds an unexpired
 * lease for it (leases.ts writes them). Expired rows are simply ignored, so a node that died
 * needs no clean-up: its devices read offline once its leases ran out.
 */
export class DatabasePresence implements PresenceLookup {
  constructor(private readonly db: Kysely<Database>) {}

  async ownerOf(serial: string): Promise<DeviceOwner | null> {
    const row = await this.db
      .selectFrom('device_presence')
      .leftJoin('nodes', 'nodes.id', 'device_presence.node_id')
      .select(['device_presence.node_id as nodeId', 'nodes.peer_address as peerAddress'])
      .where('device_presence.serial', '=', serial)
      .where('device_presence.lease_until', '>', new Date().toISOString())
      .executeTakeFirst()
    return row ? {nodeId: row.nodeId, peerAddress: row.peerAddress ?? null} : null
  }

  async isOnline(serial: string): Promise<boolean> {
    return (await this.ownerOf(serial)) !== null
  }

  async onlineAmong(serials: readonly string[]): Promise<Set<string>> {
    if (serials.length === 0) return new Set()
    const now = new Date().toISOString()
    const live = this.db.selectFrom('device_presence').select('serial').where('lease_until', '>', now)
    if (serials.length > ALL_LIVE_ABOVE) {
      const wanted = new Set(serials)
      return new Set((await live.execute()).map((r) => r.serial).filter((s) => wanted.has(s)))
    }
    return new Set((await live.where('serial', 'in', [...serials]).execute()).map((r) => r.serial))
  }
}
