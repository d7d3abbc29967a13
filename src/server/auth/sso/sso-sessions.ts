import type {Kysely} from 'kysely'
import type {Database} from '../../db/schema.js'
import {newId} from '../opaque-tokens.js'
import type {OpenSecret} from './provider.js'

/** Seals with the MFA key, bound to an id (mfa-secret.ts): a row's sealed token opens only for that row. */
export interface SealSecret extends OpenSecret {
  seal(id: string, secret: string): string
}

/**
 * One SSO sign-in's link to the IdP: its sealed refresh token and whether MFA was shown. Every
 * Tether session issued from it (refresh_tokens.sso_session_id) re-checks through it.
 */
export async function createSsoSession(db: Kysely<Database>, secrets: SealSecret, input: {userId: string; refreshToken: string | undefined; idpMfa: boolean}): Promise<string> {
  const id = newId()
  const now = new Date().toISOString()
  await db
    .insertInto('sso_sessions')
    .values({
      id,
      user_id: input.userId,
      refresh_token: input.refreshToken ? secrets.seal(`sso-session:${id}`, input.refreshToken) : null,
      idp_mfa: input.idpMfa ? 1 : 0,
      created_at: now,
      last_checked_at: now,
      ended_at: null,
    })
    .execute()
  return id
}

export function openSessionRefreshToken(secrets: OpenSecret, row: {id: string; refresh_token: string | null}): string | null {
  return row.refresh_token === null ? null : secrets.open({id: `sso-session:${row.id}`, mfa_secret: row.refresh_token})
}

/**
 * Ends an SSO session the IdP no longer honours: its Tether refresh tokens are revoked and the
 * user's token epoch bumped, so access tokens (and the tunnels opened with them, tunnels/watch.ts)
 * stop at once; the user's other sessions must refresh, which re-checks them with the IdP too.
 */
export async function endSsoSession(db: Kysely<Database>, sessionId: string, userId: string): Promise<void> {
  const now = new Date().toISOString()
  await db.updateTable('sso_sessions').set({ended_at: now}).where('id', '=', sessionId).where('ended_at', 'is', null).execute()
  await db.updateTable('refresh_tokens').set({revoked_at: now}).where('sso_session_id', '=', sessionId).where('revoked_at', 'is', null).execute()
  const user = await db.selectFrom('users').select('token_epoch').where('id', '=', userId).executeTakeFirst()
  if (user) await db.updateTable('users').set({token_epoch: user.token_epoch + 1, updated_at: now}).where('id', '=', userId).execute()
}

/** Sign-ins abandoned half-way (never finished, or finished and kept only for replay detection). */
export async function sweepExpiredSsoLogins(db: Kysely<Database>, now = new Date()): Promise<number> {
  const result = await db.deleteFrom('sso_logins').where('expires_at', '<', now.toISOString()).executeTakeFirst()
  return Number(result.numDeletedRows)
}
