import {Secret, TOTP} from 'otpauth'
import type {Kysely} from 'kysely'
import type {Database} from '../db/schema.js'
import type {MfaSecrets} from './mfa-plugin.js'

/**
 * TOTP (RFC 6238) as authenticator apps expect it: SHA-1, 6 digits, 30 s. A code is accepted one
 * period either side (clock drift) and only once: the last used counter is kept per user so a
 * code seen over a shoulder or in a log cannot be replayed within its window.
 */
const ISSUER = 'Tether'
const PERIOD = 30
const WINDOW = 1

function totpFor(secretBase32: string, username: string): TOTP {
  return new TOTP({issuer: ISSUER, label: username, algorithm: 'SHA1', digits: 6, period: PERIOD, secret: Secret.fromBase32(secretBase32)})
}

export function newTotpSecret(username: string): {secret: string; otpauthUri: string} {
  const secret = new Secret({size: 20}).base32
  return {secret, otpauthUri: totpFor(secret, username).toString()}
}

/** The time step a valid code belongs to, or null. */
export function totpCounter(secretBase32: string, username: string, code: string, now = Date.now()): number | null {
  const delta = totpFor(secretBase32, username).validate({token: code, timestamp: now, window: WINDOW})
  if (delta === null) return null
  return Math.floor(now / 1000 / PERIOD) + delta
}

/*
 * The last used counter lives in login_throttle under "totp:<user id>" (failures = counter): it is
 * login state shared by every node, and this avoids a schema change for a nice-to-have.
 */
function replayKey(userId: string): string {
  return `totp:${userId}`
}

/**
 * Checks the code and records its counter. False for a wrong code and for a code whose time step
 * is not newer than the last one accepted. The stored secret is sealed: one that does not open
 * throws (a 500), it is never taken as a wrong code or skipped.
 */
export async function consumeTotp(
  db: Kysely<Database>,
  secrets: Pick<MfaSecrets, 'open'>,
  user: {id: string; username: string; mfa_secret: string | null},
  code: string,
): Promise<boolean> {
  if (!user.mfa_secret) return false
  const counter = totpCounter(secrets.open({id: user.id, mfa_secret: user.mfa_secret}), user.username, code)
  if (counter === null) return false
  const key = replayKey(user.id)
  const now = new Date().toISOString()
  const row = await db.selectFrom('login_throttle').select('failures').where('key', '=', key).executeTakeFirst()
  if (row) {
    // Conditional update: of two concurrent logins with the same code only one wins.
    const result = await db.updateTable('login_throttle').set({failures: counter, last_failure_at: now}).where('key', '=', key).where('failures', '<', counter).executeTakeFirst()
    return Number(result.numUpdatedRows) === 1
  }
  // A concurrent insert for the same user that won the race makes this use of the code a replay.
  // ON CONFLICT, not a caught unique violation, which would abort a PostgreSQL transaction.
  const inserted = await db
    .insertInto('login_throttle')
    .values({key, failures: counter, first_failure_at: now, last_failure_at: now, locked_until: null})
    .onConflict((oc) => oc.column('key').doNothing())
    .executeTakeFirst()
  return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1
}
