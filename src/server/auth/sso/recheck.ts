import * as oidc from 'openid-client'
import {AuthError, UnavailableError} from '../../../shared/errors.js'
import type {User} from '../../db/schema.js'
import type {SessionOrigin} from '../sessions.js'
import type {SsoDeps} from './flow.js'
import {type Claims, mapClaims} from './mapping.js'
import {describe} from './provider.js'
import {deprovisionUser, provisionUser} from './provision.js'
import {loadSsoSettings} from './settings.js'
import {endSsoSession, openSessionRefreshToken} from './sso-sessions.js'

type Verdict = {ok: true; user: User; origin: SessionOrigin} | {ok: false; message: string}

/**
 * The SSO half of POST /auth/refresh: the IdP is asked again (its refresh token, then the new ID
 * token or userinfo) and the group mapping applied again. So a user the IdP disabled, deleted or
 * took out of the mapped groups loses access at the next refresh, within one access-token
 * lifetime. An IdP that cannot be reached fails closed (503): the session is kept, but not extended.
 */
export async function recheckSsoSession(deps: SsoDeps, ssoSessionId: string, user: User): Promise<{user: User; origin: SessionOrigin}> {
  const session = await deps.db.selectFrom('sso_sessions').selectAll().where('id', '=', ssoSessionId).executeTakeFirst()
  if (!session || session.ended_at !== null || session.user_id !== user.id) throw new AuthError('this single sign-on session has ended; sign in again (tether login --sso)')
  const settings = await loadSsoSettings(deps.db)
  const identity = await deps.db.selectFrom('sso_identities').selectAll().where('user_id', '=', user.id).executeTakeFirst()
  const refreshToken = openSessionRefreshToken(deps.secrets, session)
  const end = async (reason: string, details: Record<string, unknown> = {}): Promise<Verdict> => {
    await deps.audit.transaction(async (trx, record) => {
      await endSsoSession(trx, session.id, user.id)
      record({actorType: 'system', actor: 'tether-sso', action: 'sso.session.ended', outcome: 'success', details: {username: user.username, reason, ...details}})
    })
    return {ok: false, message: 'your identity provider no longer accepts this session; sign in again (tether login --sso)'}
  }

  let verdict: Verdict
  if (!settings || !identity || identity.issuer !== settings.issuer) verdict = await end('sso-disabled')
  else if (refreshToken === null) verdict = await end('no-idp-refresh-token')
  else {
    const config = await deps.idp.configuration(settings)
    let tokens: Awaited<ReturnType<typeof oidc.refreshTokenGrant>> | undefined
    try {
      tokens = await oidc.refreshTokenGrant(config, refreshToken)
    } catch (error) {
      if (!(error instanceof oidc.ResponseBodyError)) throw new UnavailableError(`the identity provider cannot be reached to re-check this session: ${describe(error)}`, {cause: error})
      verdict = await end('idp-refused', {error: describe(error)})
    }
    if (tokens) {
      const claims: Claims = {...(tokens.claims() ?? {})}
      if (claims[settings.groupsClaim] === undefined && config.serverMetadata().userinfo_endpoint) {
        Object.assign(claims, await oidc.fetchUserInfo(config, tokens.access_token, identity.subject))
      }
      verdict = await reapply(deps, session.id, identity, claims, tokens.refresh_token ?? refreshToken, session.idp_mfa === 1, user)
    } else verdict ??= {ok: false, message: 'sign in again'}
  }
  if (!verdict.ok) throw new AuthError(verdict.message, {code: 'SSO_REFUSED'})
  return {user: verdict.user, origin: verdict.origin}
}

async function reapply(
  deps: SsoDeps,
  sessionId: string,
  identity: {issuer: string; subject: string},
  claims: Claims,
  refreshToken: string,
  idpMfa: boolean,
  user: User,
): Promise<Verdict> {
  const settings = (await loadSsoSettings(deps.db))!
  if (claims.sub !== undefined && claims.sub !== identity.subject) return {ok: false, message: 'the identity provider answered for another user; sign in again'}
  const mapped = mapClaims(settings, {...claims, [settings.usernameClaim]: claims[settings.usernameClaim] ?? user.username})
  if (!mapped.ok) {
    await deps.audit.transaction((trx, record) => deprovisionUser(trx, record, user.id, mapped.reason, {groups: mapped.groups}))
    return {ok: false, message: mapped.message}
  }
  // The username stays what it was at the first sign-in: a renamed IdP account is the same user.
  const updated = await deps.audit.transaction(async (trx, record) => {
    const fresh = await provisionUser(trx, record, identity, {...mapped, username: user.username}, null)
    const sealed = deps.secrets.seal(`sso-session:${sessionId}`, refreshToken)
    await trx.updateTable('sso_sessions').set({refresh_token: sealed, last_checked_at: new Date().toISOString()}).where('id', '=', sessionId).execute()
    return fresh
  })
  return {ok: true, user: updated, origin: {ssoSessionId: sessionId, idpMfa}}
}
