import {type Kysely, sql} from 'kysely'
import type {Database} from '../db/schema.js'

/**
 * Failed-login throttling shared by every node (login_throttle table), per username and per
 * source address:
 * - from BACKOFF_AFTER failures on, the next attempt must wait 2^(failures-BACKOFF_AFTER) s
 *   (capped at MAX_DELAY_SECONDS) after the last failure, or it is answered 429 unchecked;
 * - at the lockout threshold the key is locked for lockoutSeconds (423);
 * - failures older than lockoutSeconds are forgotten.
 * A source address gets IP_THRESHOLD_FACTOR times the per-user threshold: a whole hospital often
 * shares one NAT address, and one person's typos must not lock everyone out.
 */
export const BACKOFF_AFTER = 3
export const MAX_DELAY_SECONDS = 30
export const IP_THRESHOLD_FACTOR = 4

export interface ThrottleSettings {
  lockoutThreshold: number
  lockoutSeconds: number
}

export type ThrottleKey = {kind: 'user' | 'ip'; key: string}

export type Verdict = {kind: 'ok'} | {kind: 'locked'; key: ThrottleKey; until: string} | {kind: 'wait'; key: ThrottleKey; retryAfterSeconds: number}

export function throttleKeys(username: string, ip: string): ThrottleKey[] {
  return [
    {kind: 'user', key: `user:${username.toLowerCase()}`},
    {kind: 'ip', key: `ip:${ip}`},
  ]
}

function thresholdFor(key: ThrottleKey, settings: ThrottleSettings): number {
  return key.kind === 'user' ? settings.lockoutThreshold : settings.lockoutThreshold * IP_THRESHOLD_FACTOR
}

export function backoffSeconds(failures: number): number {
  if (failures < BACKOFF_AFTER) return 0
  return Math.min(2 ** (failures - BACKOFF_AFTER), MAX_DELAY_SECONDS)
}

/** Whether an attempt may be checked at all right now. */
export async function checkThrottle(db: Kysely<Database>, keys: ThrottleKey[], settings: ThrottleSettings, now = new Date()): Promise<Verdict> {
  const rows = await db.selectFrom('login_throttle').selectAll().where('key', 'in', keys.map((k) => k.key)).execute()
  let wait: Verdict = {kind: 'ok'}
  for (const key of keys) {
    const row = rows.find((r) => r.key === key.key)
    if (!row || isStale(row, settings, now)) continue
    if (row.locked_until && row.locked_until > now.toISOString()) return {kind: 'locked', key, until: row.locked_until}
    const ready = Date.parse(row.last_failure_at) + backoffSeconds(row.failures) * 1000
    if (ready > now.getTime()) {
      const retryAfterSeconds = Math.ceil((ready - now.getTime()) / 1000)
      if (wait.kind !== 'wait' || retryAfterSeconds > wait.retryAfterSeconds) wait = {kind: 'wait', key, retryAfterSeconds}
    }
  }
  return wait
}

function isStale(row: {first_failure_at: string; locked_until: string | null}, settings: ThrottleSettings, now: Date): boolean {
  if (row.locked_until) return row.locked_until <= now.toISOString()
  return Date.parse(row.first_failure_at) + settings.lockoutSeconds * 1000 <= now.getTime()
}

/** Counts a failure on each key; returns the keys that just became locked. */
export async function recordFailure(db: Kysely<Database>, keys: ThrottleKey[], settings: ThrottleSettings, now = new Date()): Promise<Array<{key: ThrottleKey; until: string; failures: number}>> {
  const locked: Array<{key: ThrottleKey; until: string; failures: number}> = []
  const at = now.toISOString()
  for (const key of keys) {
    const row = await db.selectFrom('login_throttle').selectAll().where('key', '=', key.key).executeTakeFirst()
    let failures: number
    if (!row) {
      // ON CONFLICT rather than catching the unique violation: inside a PostgreSQL transaction (an
      // audited login) a failed statement would abort the whole transaction.
      const inserted = await db
        .insertInto('login_throttle')
        .values({key: key.key, failures: 1, first_failure_at: at, last_failure_at: at, locked_until: null})
        .onConflict((oc) => oc.column('key').doNothing())
        .executeTakeFirst()
      // A concurrent failure created the row first: count on it instead.
      failures = Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1 ? 1 : await increment(db, key.key, at)
    } else if (isStale(row, settings, now)) {
      await db.updateTable('login_throttle').set({failures: 1, first_failure_at: at, last_failure_at: at, locked_until: null}).where('key', '=', key.key).execute()
      failures = 1
    } else {
      failures = await increment(db, key.key, at)
    }
    if (failures >= thresholdFor(key, settings)) {
      const until = new Date(now.getTime() + settings.lockoutSeconds * 1000).toISOString()
      await db.updateTable('login_throttle').set({locked_until: until}).where('key', '=', key.key).execute()
      locked.push({key, until, failures})
    }
  }
  return locked
}

async function increment(db: Kysely<Database>, key: string, at: string): Promise<number> {
  // Atomic on both databases, so concurrent failures are all counted.
  await db
    .updateTable('login_throttle')
    .set({failures: sql<number>`failures + 1`, last_failure_at: at})
    .where('key', '=', key)
    .execute()
  const row = await db.selectFrom('login_throttle').select('failures').where('key', '=', key).executeTakeFirstOrThrow()
  return row.failures
}

/** A successful login forgets the user's failures (not the address's: see recordFailure). */
export async function clearFailures(db: Kysely<Database>, key: ThrottleKey): Promise<void> {
  await db.deleteFrom('login_throttle').where('key', '=', key.key).execute()
}
