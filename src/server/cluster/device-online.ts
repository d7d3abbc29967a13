import type {Device} from '../db/schema.js'
import type {Presence} from '../hub/types.js'
import type {LivePresence} from '../registry/service.js'
import type {PresenceLookup} from './types.js'

/** What the answer needs: this node's connections and presence across nodes. */
export interface OnlineSources {
  hub: {presenceOf(serial: string): Presence | null}
  presence: PresenceLookup
}

/**
 * The one place a device's online state for the API is decided, so every node answers the same:
 * connected here (live last-seen and inventory from the hub), else connected to another node
 * (a live lease; last-seen and inventory as that node stored them), else offline (null).
 */
export async function livePresence(app: OnlineSources, devices: readonly Device[]): Promise<Map<string, LivePresence>> {
  const out = new Map<string, LivePresence>()
  const elsewhere: Device[] = []
  for (const d of devices) {
    const here = app.hub.presenceOf(d.serial)
    if (here) out.set(d.serial, here)
    else elsewhere.push(d)
  }
  const online = await app.presence.onlineAmong(elsewhere.map((d) => d.serial))
  for (const d of elsewhere) if (online.has(d.serial)) out.set(d.serial, {online: true, lastSeenAt: d.last_seen_at, inventory: null})
  return out
}

/** livePresence for one device. */
export async function livePresenceOne(app: OnlineSources, device: Device): Promise<LivePresence | null> {
  return (await livePresence(app, [device])).get(device.serial) ?? null
}
