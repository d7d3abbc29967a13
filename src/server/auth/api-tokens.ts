import type {Kysely} from 'kysely'
import type {TokenView} from '../../protocol/api/users.js'
import {NotFoundError} from '../../shared/errors.js'
import type {ApiToken, Database} from '../db/schema.js'
import {nowIso} from '../users/store.js'
import {newApiToken, newId} from './opaque-tokens.js'
import {isPermission, type Permission, ROLE_PERMISSIONS} from './permissions.js'
import type {Principal} from './principal.js'
import {fieldError} from './request-context.js'

/** API tokens for scripting: named, narrowed, expiring, revocable; the secret is shown once. */
export const DEFAULT_TOKEN_TTL_SECONDS = 30 * 86400

export function toTokenView(row: ApiToken, username: string): TokenView {
  return {
    id: row.id,
    name: row.name,
    username,
    permissions: (JSON.parse(row.permissions) as string[]).filter(isPermission),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  }
}

export async function createApiToken(
  db: Kysely<Database>,
  owner: Principal,
  input: {name: string; permissions?: Permission[]; ttlSeconds?: number},
): Promise<{token: string; info: TokenView}> {
  const allowed = ROLE_PERMISSIONS[owner.role]
  const permissions = input.permissions ? [...new Set(input.permissions)] : [...allowed]
  const extra = permissions.filter((p) => !allowed.includes(p))
  if (extra.length > 0) throw fieldError('body.permissions', `not granted to role ${owner.role}: ${extra.join(', ')}`)
  if (permissions.length === 0) throw fieldError('body.permissions', 'at least one permission is required')
  const id = newId()
  const {token, hash} = newApiToken(id)
  const now = new Date()
  const row: ApiToken = {
    id,
    user_id: owner.userId,
    name: input.name,
    token_hash: hash,
    permissions: JSON.stringify(permissions),
    created_at: now.toISOString(),
    expires_at: new Date(now.getTime() + (input.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS) * 1000).toISOString(),
    revoked_at: null,
    last_used_at: null,
  }
  await db.insertInto('api_tokens').values(row).execute()
  return {token, info: toTokenView(row, owner.username)}
}

export async function listApiTokens(db: Kysely<Database>, userId: string, username: string): Promise<TokenView[]> {
  const rows = await db.selectFrom('api_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute()
  return rows.map((r) => toTokenView(r, username))
}

/** Revokes the caller's token, or anyone's with users:manage; others' tokens are a 404. */
export async function revokeApiToken(db: Kysely<Database>, caller: Principal, id: string): Promise<TokenView> {
  const row = await db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .selectAll('api_tokens')
    .select('users.username')
    .where('api_tokens.id', '=', id)
    .executeTakeFirst()
  if (!row || (row.user_id !== caller.userId && !caller.permissions.includes('users:manage'))) throw new NotFoundError(`no token "${id}"`)
  const revokedAt = row.revoked_at ?? nowIso()
  if (row.revoked_at === null) await db.updateTable('api_tokens').set({revoked_at: revokedAt}).where('id', '=', id).execute()
  const {username, ...token} = row
  return toTokenView({...token, revoked_at: revokedAt}, username)
}
