import {randomBytes} from 'node:crypto'
import type {Kysely} from 'kysely'
import * as oidc from 'openid-client'
import type {TokenPair} from '../../../protocol/api/auth.js'
import {AuthError, NotFoundError, RateLimitedError, TetherError, UsageError} from '../../../shared/errors.js'
import type {AuditLog} from '../../audit/types.js'
import type {Database, Role, User} from '../../db/schema.js'
import {sha256Hex} from '../opaque-tokens.js'
import {roleRequiresMfa} from '../permissions.js'
import {checkThrottle, clearFailures, recordFailure, type ThrottleKey, type ThrottleSettings, throttleKeys} from '../throttle.js'
import type {SessionService} from '../sessions.js'
import {type Claims, mapClaims} from './mapping.js'
import {describe, type IdentityProvider} from './provider.js'
import {deprovisionUser, provisionUser} from './provision.js'
import {loadSsoSettings, type SsoSettings} from './settings.js'
import {createSsoSession, type SealSecret} from './sso-sessions.js'

/** A sign-in must finish (browser, IdP, back to the CLI) within this. */
export const LOGIN_TTL_SECONDS = 600
export const SCOPES = 'openid profile email offline_access'

export interface SsoDeps {
  db: Kysely<Database>
  audit: AuditLog
  sessions: SessionService
  secrets: SealSecret
  idp: IdentityProvider
  mfaForReadOnlyRoles: boolean
  /** The password login's throttle settings, applied to the TOTP step too. */
  throttle: ThrottleSettings
}

/** A sign-in refused: audited with `reason`, answered 401 SSO_REFUSED with `message`. */
export class SsoRefusal extends AuthError {
  constructor(
    readonly reason: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message, {code: 'SSO_REFUSED', details: {reason}})
  }
}

/** Waiting for Tether's TOTP after the IdP sign-in (kept on the sso_logins row). */
interface Pending {
  userId: string
  refreshToken: string | null
  attempts: number
}

export async function requireSettings(db: Kysely<Database>): Promise<SsoSettings> {
  const settings = await loadSsoSettings(db)
  if (!settings) throw new NotFoundError('single sign-on is not configured on this server (tether server sso set)', {code: 'SSO_NOT_CONFIGURED'})
  return settings
}

/**
 * Step 1: the authorization URL (code flow with PKCE, state and nonce). The verifier never leaves
 * the server; the CLI gets a login id, which is not in the URL, so only the CLI that started the
 * sign-in can finish it. The redirect goes to the CLI's loopback listener (RFC 8252).
 */
export async function startSsoLogin(deps: SsoDeps, redirectUri: string): Promise<{loginId: string; authorizationUrl: string; expiresAt: string}> {
  // Not a URL at all (" ", found by the API fuzz) is the same refusal as the wrong kind of URL, never a 500.
  const uri = URL.canParse(redirectUri) ? new URL(redirectUri) : undefined
  if (!uri || uri.protocol !== 'http:' || !['127.0.0.1', '[::1]', 'localhost'].includes(uri.hostname) || uri.search || uri.hash) {
    throw new UsageError('body.redirectUri: must be a loopback http URL without query (http://127.0.0.1:PORT/callback)', {details: {field: 'body.redirectUri'}})
  }
  const settings = await requireSettings(deps.db)
  const config = await deps.idp.configuration(settings)
  const loginId = randomBytes(32).toString('base64url')
  const state = oidc.randomState()
  const nonce = oidc.randomNonce()
  const verifier = oidc.randomPKCECodeVerifier()
  const now = new Date()
  const expiresAt = new Date(now.getTime() + LOGIN_TTL_SECONDS * 1000).toISOString()
  // Old, unfinished sign-ins are no use to anyone.
  await deps.db.deleteFrom('sso_logins').where('expires_at', '<', now.toISOString()).execute()
  await deps.db
    .insertInto('sso_logins')
    .values({id: sha256Hex(loginId), state, nonce, code_verifier: verifier, redirect_uri: redirectUri, created_at: now.toISOString(), expires_at: expiresAt, used_at: null, pending: null})
    .execute()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: SCOPES,
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    // offline_access (a refresh token for the re-checks) needs consent at most IdPs.
    prompt: 'consent',
  })
  return {loginId, authorizationUrl: url.href, expiresAt}
}

/**
 * Step 2: the CLI forwards what its loopback listener received. The login row is used up first
 * (a replayed callback finds it used), then openid-client exchanges the code and checks state,
 * PKCE, issuer, signature, audience, nonce and times. Every refusal is audited with its reason.
 */
export async function finishSsoLogin(deps: SsoDeps, input: {loginId: string; callbackUrl: string}, sourceIp: string): Promise<TokenPair> {
  return audited(deps, sourceIp, async () => {
    const row = await claimLogin(deps.db, input.loginId)
    const settings = await requireSettings(deps.db)
    const config = await deps.idp.configuration(settings)
    const callback = parseCallback(input.callbackUrl, row.redirect_uri)
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>
    try {
      tokens = await oidc.authorizationCodeGrant(config, callback, {pkceCodeVerifier: row.code_verifier, expectedState: row.state, expectedNonce: row.nonce, idTokenExpected: true})
    } catch (error) {
      throw new SsoRefusal(reasonOf(error), `the identity provider's answer was refused: ${describe(error)}`)
    }
    return completeSignIn(deps, settings, config, row.id, tokens, sourceIp)
  })
}

/**
 * What every grant (code, device) ends with once the IdP's tokens are checked: the groups from the
 * ID token (else userinfo), then the same mapping, provisioning, MFA and audit path.
 */
export async function completeSignIn(
  deps: SsoDeps,
  settings: SsoSettings,
  config: oidc.Configuration,
  loginRow: string,
  tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  sourceIp: string,
): Promise<TokenPair> {
  const idToken = tokens.claims()
  if (!idToken) throw new SsoRefusal('no-id-token', 'the identity provider sent no ID token')
  const claims: Claims = {...idToken}
  if (claims[settings.groupsClaim] === undefined && config.serverMetadata().userinfo_endpoint) {
    Object.assign(claims, await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub), {amr: idToken.amr, acr: idToken.acr})
  }
  return signIn(deps, settings, loginRow, {issuer: idToken.iss, subject: idToken.sub}, claims, tokens.refresh_token ?? null, sourceIp)
}

/** Step 2b: the TOTP of a user whose ID token did not show MFA. */
export async function finishSsoTotp(deps: SsoDeps, input: {loginId: string; totp: string}, sourceIp: string, consume: (user: User, code: string) => Promise<boolean>): Promise<TokenPair> {
  return audited(deps, sourceIp, async () => {
    const row = await deps.db.selectFrom('sso_logins').selectAll().where('id', '=', sha256Hex(input.loginId)).executeTakeFirst()
    if (!row || row.pending === null || row.expires_at <= new Date().toISOString()) throw new SsoRefusal('unknown-login', 'no sign-in is waiting for a code; sign in again (tether login --sso)')
    const pending = JSON.parse(row.pending) as Pending
    const user = await deps.db.selectFrom('users').selectAll().where('id', '=', pending.userId).executeTakeFirst()
    if (!user || user.disabled_at !== null) throw new SsoRefusal('disabled', 'this user is disabled')
    // The password login's throttle (per user and per address) guards this code too: a user who
    // can pass the IdP step at will must not get more TOTP guesses than a password user.
    const keys = throttleKeys(user.username, sourceIp)
    await checkTotpThrottle(deps, keys, user.username, sourceIp)
    if (!(await consume(user, input.totp))) {
      // Three wrong codes end this sign-in as well: the IdP step must be done again.
      const attempts = pending.attempts + 1
      await deps.db.updateTable('sso_logins').set({pending: attempts >= 3 ? null : JSON.stringify({...pending, attempts})}).where('id', '=', row.id).execute()
      const locked = await recordFailure(deps.db, keys, deps.throttle)
      for (const lock of locked) {
        await deps.audit.append({actorType: 'system', actor: 'tether-server', action: 'auth.lockout', outcome: 'success', sourceIp, details: {key: lock.key.kind, username: user.username, failures: lock.failures, until: lock.until}})
      }
      throw new SsoRefusal('bad-totp', 'invalid one-time code', {username: user.username})
    }
    await clearFailures(deps.db, keys[0])
    await deps.db.updateTable('sso_logins').set({pending: null}).where('id', '=', row.id).execute()
    const refreshToken = pending.refreshToken === null ? null : deps.secrets.open({id: `sso-login:${row.id}`, mfa_secret: pending.refreshToken})
    return issue(deps, user, refreshToken, {idpMfa: false, totp: true}, sourceIp)
  })
}

/** 423 LOCKED (audited) or 429 while the shared login throttle holds this user or address. */
async function checkTotpThrottle(deps: SsoDeps, keys: ThrottleKey[], username: string, sourceIp: string): Promise<void> {
  const verdict = await checkThrottle(deps.db, keys, deps.throttle)
  if (verdict.kind === 'locked') {
    await deps.audit.append({actorType: 'user', actor: username, action: 'sso.login', outcome: 'failure', sourceIp, details: {reason: 'locked', lockedKey: verdict.key.kind, until: verdict.until}})
    throw new AuthError(`too many failed logins; locked until ${verdict.until}`, {code: 'LOCKED', details: {until: verdict.until}})
  }
  if (verdict.kind === 'wait') throw new RateLimitedError(`too many failed logins; retry in ${verdict.retryAfterSeconds} s`, {details: {retryAfterSeconds: verdict.retryAfterSeconds}})
}

async function signIn(deps: SsoDeps, settings: SsoSettings, loginRow: string, identity: {issuer: string; subject: string}, claims: Claims, refreshToken: string | null, sourceIp: string): Promise<TokenPair> {
  const mapped = mapClaims(settings, claims)
  const linked = await deps.db.selectFrom('sso_identities').select('user_id').where('issuer', '=', identity.issuer).where('subject', '=', identity.subject).executeTakeFirst()
  if (!mapped.ok) {
    if (linked) await deps.audit.transaction((trx, record) => deprovisionUser(trx, record, linked.user_id, mapped.reason, {groups: mapped.groups}))
    throw new SsoRefusal(mapped.reason, mapped.message, {subject: identity.subject, groups: mapped.groups})
  }
  const user = await deps.audit.transaction((trx, record) => provisionUser(trx, record, identity, mapped, sourceIp))
  const mfaNeeded = roleRequiresMfa(user.role as Role, settings.requireMfa || deps.mfaForReadOnlyRoles)
  if (mfaNeeded && !mapped.idpMfa && user.mfa_enabled === 1) {
    const pending: Pending = {userId: user.id, refreshToken: refreshToken ? deps.secrets.seal(`sso-login:${loginRow}`, refreshToken) : null, attempts: 0}
    await deps.db.updateTable('sso_logins').set({pending: JSON.stringify(pending)}).where('id', '=', loginRow).execute()
    await deps.audit.append({actorType: 'user', actor: user.username, action: 'sso.login', outcome: 'failure', sourceIp, details: {reason: 'mfa-required', amr: claims.amr ?? null}})
    throw new AuthError('your identity provider did not report MFA: enter the code from your authenticator app', {code: 'MFA_REQUIRED'})
  }
  return issue(deps, user, refreshToken, {idpMfa: mapped.idpMfa, totp: false, forceMfaEnroll: mfaNeeded && !mapped.idpMfa && user.mfa_enabled !== 1, amr: claims.amr ?? null}, sourceIp)
}

async function issue(deps: SsoDeps, user: User, refreshToken: string | null, mfa: {idpMfa: boolean; totp: boolean; forceMfaEnroll?: boolean; amr?: unknown}, sourceIp: string): Promise<TokenPair> {
  return deps.audit.transaction(async (trx, record) => {
    const ssoSessionId = await createSsoSession(trx, deps.secrets, {userId: user.id, refreshToken: refreshToken ?? undefined, idpMfa: mfa.idpMfa})
    const pair = await deps.sessions.issueTokenPair(user, trx, {ssoSessionId, idpMfa: mfa.idpMfa, forceMfaEnroll: mfa.forceMfaEnroll})
    record({actorType: 'user', actor: user.username, action: 'sso.login', outcome: 'success', sourceIp, details: {role: user.role, idpMfa: mfa.idpMfa, totp: mfa.totp, mfaEnrollmentRequired: pair.mfaEnrollmentRequired, ...(mfa.amr === undefined ? {} : {amr: mfa.amr})}})
    return pair
  })
}

/** Uses up the login row: a second callback for it (a replay) is refused here. */
export async function claimLogin(db: Kysely<Database>, loginId: string) {
  const row = await db.selectFrom('sso_logins').selectAll().where('id', '=', sha256Hex(loginId)).executeTakeFirst()
  if (!row) throw new SsoRefusal('unknown-login', 'unknown or expired sign-in; start again (tether login --sso)')
  if (row.expires_at <= new Date().toISOString()) throw new SsoRefusal('login-expired', 'the sign-in took too long; start again (tether login --sso)')
  const used = await db.updateTable('sso_logins').set({used_at: new Date().toISOString()}).where('id', '=', row.id).where('used_at', 'is', null).executeTakeFirst()
  if (Number(used.numUpdatedRows) !== 1) throw new SsoRefusal('replayed', 'this sign-in was already completed; start again (tether login --sso)')
  return row
}

function parseCallback(callbackUrl: string, redirectUri: string): URL {
  let url: URL
  try {
    url = new URL(callbackUrl)
  } catch {
    throw new UsageError('body.callbackUrl: not a URL', {details: {field: 'body.callbackUrl'}})
  }
  if (`${url.origin}${url.pathname}` !== redirectUri) throw new SsoRefusal('redirect-mismatch', 'the callback was not received on the redirect URI of this sign-in')
  return url
}

const REASONS: Array<[RegExp, string]> = [
  [/"state"/, 'state-mismatch'],
  [/"iss"/, 'wrong-issuer'],
  [/"aud"/, 'wrong-audience'],
  [/"nonce"/, 'nonce-mismatch'],
  [/signature/i, 'bad-signature'],
  [/"exp"|"iat"|"nbf"|timestamp/, 'expired'],
]

/** A short, stable reason for the audit trail from openid-client's (oauth4webapi's) errors. */
export function reasonOf(error: unknown): string {
  if (error instanceof oidc.AuthorizationResponseError) return `idp:${error.error}`
  if (error instanceof oidc.ResponseBodyError) return `idp:${error.error}`
  const text = describe(error)
  for (const [pattern, reason] of REASONS) if (pattern.test(text)) return reason
  return (error as {code?: string}).code ?? 'exchange-failed'
}

/** Runs a sign-in step; a refusal is audited (sso.login failure) before it is answered. */
export async function audited<T>(deps: SsoDeps, sourceIp: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step()
  } catch (error) {
    if (error instanceof SsoRefusal || (error instanceof AuthError && error.details?.reason)) {
      const reason = error instanceof SsoRefusal ? error.reason : String(error.details?.reason)
      const extra = error instanceof SsoRefusal ? error.extra : {}
      const actor = typeof extra.username === 'string' ? extra.username : 'unknown'
      await deps.audit.append({actorType: 'user', actor, action: 'sso.login', outcome: 'failure', sourceIp, details: {reason, message: error.message, ...extra}})
      if (!(error instanceof SsoRefusal)) throw new SsoRefusal(reason, error.message)
    } else if (!(error instanceof TetherError)) {
      await deps.audit.append({actorType: 'user', actor: 'unknown', action: 'sso.login', outcome: 'failure', sourceIp, details: {reason: 'error', message: describe(error)}})
    }
    throw error
  }
}
