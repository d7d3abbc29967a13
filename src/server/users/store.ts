import type {Kysely, Transaction} from 'kysely'
import type {UserView} from '../../protocol/api/auth.js'
import type {Database, Role, User} from '../db/schema.js'
import type {Scope} from '../auth/principal.js'
import {scopeFromRows, scopeToView} from '../auth/scope.js'

type Db = Kysely<Database> | Transaction<Database>

/** Rows of users and their scopes; services in this folder build on these. */
export async function findUserByName(db: Db, username: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst()
}

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
}

export async function loadScope(db: Db, user: Pick<User, 'id' | 'scope_all'>): Promise<Scope> {
  if (user.scope_all === 1) return {all: true, entries: []}
  const rows = await db.selectFrom('user_scopes').select(['customer_id', 'site_id']).where('user_id', '=', user.id).orderBy('customer_id').orderBy('site_id').execute()
  return scopeFromRows(0, rows)
}

export async function replaceScope(db: Db, userId: string, scope: Scope, now: string): Promise<void> {
  await db.deleteFrom('user_scopes').where('user_id', '=', userId).execute()
  if (scope.entries.length > 0 && !scope.all) {
    await db
      .insertInto('user_scopes')
      .values(scope.entries.map((e) => ({user_id: userId, customer_id: e.customerId, site_id: e.siteId})))
      .execute()
  }
  await db.updateTable('users').set({scope_all: scope.all ? 1 : 0, updated_at: now}).where('id', '=', userId).execute()
}

/**
 * Ends every session of the user: access JWTs (epoch) and refresh tokens; API tokens stay (a
 * password change or reset: they are listed and revoked on their own). Checked on every request,
 * so it holds across server nodes.
 */
export async function revokeSessions(db: Db, userId: string, now: string): Promise<number> {
  const user = await findUserById(db, userId)
  if (!user) return 0
  await db.updateTable('users').set({token_epoch: user.token_epoch + 1, updated_at: now}).where('id', '=', userId).execute()
  const revoked = await db.updateTable('refresh_tokens').set({revoked_at: now}).where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst()
  return Number(revoked.numUpdatedRows)
}

/** Makes every credential of the user stop working at once: sessions and API tokens. */
export async function revokeAllCredentials(db: Db, userId: string, now: string): Promise<void> {
  await revokeSessions(db, userId, now)
  await db.updateTable('api_tokens').set({revoked_at: now}).where('user_id', '=', userId).where('revoked_at', 'is', null).execute()
}

export function toUserView(user: User, scope: Scope): UserView {
  return {
    id: user.id,
    username: user.username,
    displayName: user.display_name,
    role: user.role as Role,
    mfaEnabled: user.mfa_enabled === 1,
    disabled: user.disabled_at !== null,
    scope: scopeToView(scope),
    createdAt: user.created_at,
  }
}

export function nowIso(): string {
  return new Date().toISOString()
}
