import type {Kysely} from 'kysely'
import {signSnapshot, signTimestamp} from '../../shared/tuf/index.js'
import type {Database} from '../db/schema.js'
import {latestMetadata, storeMetadata} from './metadata-store.js'
import type {OnlineKeys} from './online-keys.js'

export interface Lifetimes {
  snapshotExpirySeconds: number
  timestampExpirySeconds: number
}

export interface Resigned {
  snapshotVersion: number
  timestampVersion: number
  timestampExpires: string
}

/**
 * Signs what the online keys sign, on `db` (the caller's transaction): a new snapshot.json over the
 * latest targets.json when `newSnapshot` (a publish, or the snapshot is getting stale), and always
 * a new timestamp.json over the latest snapshot. Versions only grow, so a device never sees one go
 * back (TUF's rollback check). Returns undefined while nothing is published.
 */
export async function resignOnline(db: Kysely<Database>, keys: OnlineKeys, lifetimes: Lifetimes, options: {newSnapshot: boolean; now: Date}): Promise<Resigned | undefined> {
  const {now} = options
  const targets = await latestMetadata(db, 'targets')
  if (!targets) return undefined
  let snapshot = await latestMetadata(db, 'snapshot')
  if (!snapshot || options.newSnapshot) {
    const md = signSnapshot({
      version: (snapshot?.version ?? 0) + 1,
      expires: new Date(now.getTime() + lifetimes.snapshotExpirySeconds * 1000),
      keys: [keys.snapshot],
      targetsVersion: targets.version,
      targetsBytes: targets.bytes,
    })
    snapshot = {role: 'snapshot', version: md.signed.version, bytes: await storeMetadata(db, 'snapshot', md, now), expires: md.signed.expires}
  }
  const previous = await latestMetadata(db, 'timestamp')
  const timestamp = signTimestamp({
    version: (previous?.version ?? 0) + 1,
    expires: new Date(now.getTime() + lifetimes.timestampExpirySeconds * 1000),
    keys: [keys.timestamp],
    snapshotVersion: snapshot.version,
    snapshotBytes: snapshot.bytes,
  })
  await storeMetadata(db, 'timestamp', timestamp, now)
  return {snapshotVersion: snapshot.version, timestampVersion: timestamp.signed.version, timestampExpires: timestamp.signed.expires}
}

/** Less than half of its lifetime left (or already expired): time to sign a new one. */
export function isStale(expires: string, lifetimeSeconds: number, now: Date): boolean {
  return Date.parse(expires) - now.getTime() < (lifetimeSeconds * 1000) / 2
}
