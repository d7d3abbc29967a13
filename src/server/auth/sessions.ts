import type {Kysely} from 'kysely'
import type {TokenPair} from '../../protocol/api/auth.js'
import {AuthError} from '../../shared/errors.js'
import type {AuditLog} from '../audit/types.js'
import type {ServerConfig} from '../config.js'
import type {Database, Role, User} from '../db/schema.js'
import {findUserById, loadScope, nowIso, toUserView} from '../users/store.js'
import {signAccessToken, verifyAccessToken} from './jwt.js'
import {API_TOKEN_PREFIX, newId, newRefreshToken, parseApiTokenId, sha256Hex} from './opaque-tokens.js'
import {isPermission, type Permission, ROLE_PERMISSIONS, roleRequiresMfa} from './permissions.js'
import type {Principal} from './principal.js'
import {scopeFromRows} from './scope.js'

/** How a session came to be when it is not a password login: an SSO sign-in (sso/flow.ts). */
export interface SessionOrigin {
  ssoSessionId: string
  /** The IdP showed MFA: the role's MFA requirement is met without Tether's TOTP. */
  idpMfa: boolean
  /** MFA is required by the SSO policy (read-only roles too) and neither factor was shown. */
  forceMfaEnroll?: boolean
}

/**
 * Re-checks an SSO session with the IdP at refresh (sso/recheck.ts): the user as the IdP now
 * sees it, or an AuthError. Registered by the SSO routes; without it SSO sessions cannot refresh.
 */
export type SsoRefreshCheck = (ssoSessionId: string, user: User) => Promise<{user: User; origin: SessionOrigin}>

/** How often last_used_at of an API token is written (not on every request). */
const LAST_USED_RESOLUTION_MS = 60_000

/**
 * Sessions (access JWT + rotating refresh token) and the resolution of a bearer token into a
 * Principal. Logins and logouts are audited by their routes; an ordinary refresh is not (it
 * happens every few minutes per session and grants nothing new), a reused one is. Every request re-reads the user (one indexed query), so disabling a user, bumping
 * their epoch or changing their role takes effect on the very next request on every node.
 */
export class SessionService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly key: Uint8Array,
    private readonly settings: ServerConfig['auth'],
    private readonly audit: AuditLog,
  ) {}

  private ssoRefreshCheck: SsoRefreshCheck | undefined

  useSsoRefreshCheck(check: SsoRefreshCheck): void {
    this.ssoRefreshCheck = check
  }

  mfaEnrollmentRequired(user: Pick<User, 'role' | 'mfa_enabled'>): boolean {
    return user.mfa_enabled !== 1 && roleRequiresMfa(user.role as Role, this.settings.mfaForReadOnlyRoles)
  }

  /** db: the caller's transaction when the new session commits with its audit event (login). */
  async issueTokenPair(user: User, db: Kysely<Database> = this.db, origin?: SessionOrigin): Promise<TokenPair> {
    const idpMfa = origin?.idpMfa === true
    const mfaEnroll = origin?.forceMfaEnroll === true || (!idpMfa && this.mfaEnrollmentRequired(user))
    const accessToken = await signAccessToken(this.key, {sub: user.id, epoch: user.token_epoch, mfaEnroll, idpMfa}, this.settings.accessTokenTtlSeconds)
    const refresh = newRefreshToken()
    const now = new Date()
    await db
      .insertInto('refresh_tokens')
      .values({
        id: newId(),
        user_id: user.id,
        token_hash: refresh.hash,
        created_at: now.toISOString(),
        expires_at: new Date(now.getTime() + this.settings.refreshTokenTtlSeconds * 1000).toISOString(),
        revoked_at: null,
        sso_session_id: origin?.ssoSessionId ?? null,
      })
      .execute()
    const scope = await loadScope(db, user)
    return {accessToken, expiresIn: this.settings.accessTokenTtlSeconds, refreshToken: refresh.token, mfaEnrollmentRequired: mfaEnroll, user: toUserView(user, scope)}
  }

  /**
   * Rotates: the presented token is revoked and a new pair issued. Presenting an already revoked
   * token means it was copied; every refresh token of that user is then revoked.
   */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const row = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', sha256Hex(refreshToken)).executeTakeFirst()
    if (!row) throw new AuthError('refresh token is invalid; log in again')
    const now = nowIso()
    if (row.revoked_at !== null) {
      // A copied token: the whole family goes, and that is a security event on the record.
      await this.audit.transaction(async (trx, record) => {
        const revoked = await trx.updateTable('refresh_tokens').set({revoked_at: now}).where('user_id', '=', row.user_id).where('revoked_at', 'is', null).executeTakeFirst()
        const user = await findUserById(trx, row.user_id)
        record({actorType: 'system', actor: 'tether-server', action: 'auth.refresh.reused', outcome: 'denied', details: {username: user?.username ?? row.user_id, revoked: Number(revoked.numUpdatedRows)}})
      })
      throw new AuthError('refresh token was already used or revoked; log in again')
    }
    if (row.expires_at <= now) throw new AuthError('refresh token expired; log in again')
    const user = await findUserById(this.db, row.user_id)
    if (!user || user.disabled_at !== null) throw new AuthError('refresh token is invalid; log in again')
    const result = await this.db.updateTable('refresh_tokens').set({revoked_at: now}).where('id', '=', row.id).where('revoked_at', 'is', null).executeTakeFirst()
    // Lost a race with a concurrent refresh of the same token: only one of them gets a new pair.
    if (Number(result.numUpdatedRows) !== 1) throw new AuthError('refresh token was already used; log in again')
    if (row.sso_session_id) {
      // The IdP decides whether an SSO user still has access, on every refresh.
      if (!this.ssoRefreshCheck) throw new AuthError('single sign-on is not available on this server; log in again')
      const checked = await this.ssoRefreshCheck(row.sso_session_id, user)
      return this.issueTokenPair(checked.user, this.db, checked.origin)
    }
    return this.issueTokenPair(user)
  }

  async logout(refreshToken: string, db: Kysely<Database> = this.db): Promise<{userId: string} | null> {
    const row = await db.selectFrom('refresh_tokens').select(['id', 'user_id']).where('token_hash', '=', sha256Hex(refreshToken)).executeTakeFirst()
    if (!row) return null
    await db.updateTable('refresh_tokens').set({revoked_at: nowIso()}).where('id', '=', row.id).where('revoked_at', 'is', null).execute()
    return {userId: row.user_id}
  }

  async revokeRefreshTokens(userId: string, db: Kysely<Database> = this.db): Promise<void> {
    await db.updateTable('refresh_tokens').set({revoked_at: nowIso()}).where('user_id', '=', userId).where('revoked_at', 'is', null).execute()
  }

  /** Throws AuthError (401) for anything that is not a currently valid credential. */
  async resolveBearer(token: string): Promise<Principal> {
    if (token.startsWith(API_TOKEN_PREFIX)) return this.resolveApiToken(token)
    const claims = await verifyAccessToken(this.key, token)
    const rows = await this.db
      .selectFrom('users')
      .leftJoin('user_scopes', 'user_scopes.user_id', 'users.id')
      .select(['users.id', 'users.username', 'users.role', 'users.mfa_enabled', 'users.scope_all', 'users.disabled_at', 'users.token_epoch', 'user_scopes.customer_id', 'user_scopes.site_id'])
      .where('users.id', '=', claims.sub)
      .execute()
    const user = rows[0]
    if (!user) throw new AuthError('access token is invalid')
    if (user.disabled_at !== null) throw new AuthError('this user is disabled')
    if (user.token_epoch !== claims.epoch) throw new AuthError('access token was revoked; log in again')
    const role = user.role as Role
    return {
      auth: 'session',
      userId: user.id,
      username: user.username,
      role,
      permissions: [...ROLE_PERMISSIONS[role]],
      scope: scopeFromRows(user.scope_all, rows),
      mfaEnrollmentRequired: claims.mfaEnroll || (claims.idpMfa !== true && this.mfaEnrollmentRequired(user)),
    }
  }

  private async resolveApiToken(token: string): Promise<Principal> {
    const id = parseApiTokenId(token)
    if (!id) throw new AuthError('API token is invalid')
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .select([
        'api_tokens.id',
        'api_tokens.name',
        'api_tokens.token_hash',
        'api_tokens.permissions',
        'api_tokens.expires_at',
        'api_tokens.revoked_at',
        'api_tokens.last_used_at',
        'users.id as user_id',
        'users.username',
        'users.role',
        'users.scope_all',
        'users.disabled_at',
      ])
      .where('api_tokens.id', '=', id)
      .executeTakeFirst()
    // The lookup is by id; the hash comparison is on the whole token (equal-length hex strings).
    if (!row || row.token_hash !== sha256Hex(token)) throw new AuthError('API token is invalid')
    const now = nowIso()
    if (row.revoked_at !== null) throw new AuthError('API token was revoked', {code: 'API_TOKEN_REVOKED'})
    if (row.expires_at <= now) throw new AuthError(`API token expired at ${row.expires_at}`, {code: 'API_TOKEN_EXPIRED'})
    if (row.disabled_at !== null) throw new AuthError('this user is disabled')
    const role = row.role as Role
    const granted = (JSON.parse(row.permissions) as string[]).filter(isPermission)
    // Narrowed to the role as it is now: demoting the owner also narrows their tokens.
    const permissions: Permission[] = ROLE_PERMISSIONS[role].filter((p) => granted.includes(p))
    if (!row.last_used_at || Date.parse(now) - Date.parse(row.last_used_at) > LAST_USED_RESOLUTION_MS) {
      await this.db.updateTable('api_tokens').set({last_used_at: now}).where('id', '=', row.id).execute()
    }
    return {
      auth: 'api-token',
      userId: row.user_id,
      username: row.username,
      role,
      permissions,
      scope: await loadScope(this.db, {id: row.user_id, scope_all: row.scope_all}),
      tokenId: row.id,
      tokenName: row.name,
      mfaEnrollmentRequired: false,
    }
  }
}
