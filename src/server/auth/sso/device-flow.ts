import {randomBytes} from 'node:crypto'
import * as oidc from 'openid-client'
import type {SsoDevicePollResponse, SsoDeviceStartResponse} from '../../../protocol/api/sso.js'
import {UsageError} from '../../../shared/errors.js'
import {sha256Hex} from '../opaque-tokens.js'
import {audited, completeSignIn, LOGIN_TTL_SECONDS, reasonOf, requireSettings, SCOPES, type SsoDeps, SsoRefusal} from './flow.js'
import {describe} from './provider.js'

/**
 * `tether login --sso --device`: the IdP's device authorization grant (RFC 8628) for machines
 * without a browser. The server is the client here too (it holds the client secret): it starts
 * the grant, the CLI shows the user code and URL, then polls the server, and each poll is one
 * token-endpoint request. No server state but the sso_logins row, so any node can answer a poll.
 *
 * The row's columns are those of a code-flow sign-in, used as: redirect_uri = DEVICE_MARKER (a
 * code-flow callback for it is refused as a redirect mismatch), code_verifier = the device code,
 * nonce = the current poll interval in seconds; state is unused.
 */
export const DEVICE_MARKER = 'device'
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
/** RFC 8628 3.5: without an interval from the IdP, poll every 5 s; slow_down adds 5 s. */
const DEFAULT_INTERVAL_SECONDS = 5

export async function startSsoDeviceLogin(deps: SsoDeps): Promise<SsoDeviceStartResponse> {
  const settings = await requireSettings(deps.db)
  const config = await deps.idp.configuration(settings)
  if (!config.serverMetadata().device_authorization_endpoint) {
    throw new UsageError(`--device: the identity provider (${settings.issuer}) offers no device authorization grant; sign in with tether login --sso on a machine with a browser`)
  }
  let grant: Awaited<ReturnType<typeof oidc.initiateDeviceAuthorization>>
  try {
    grant = await oidc.initiateDeviceAuthorization(config, {scope: SCOPES})
  } catch (error) {
    throw new SsoRefusal(`idp:${error instanceof oidc.ResponseBodyError ? error.error : 'device-start-failed'}`, `the identity provider refused to start a device sign-in: ${describe(error)}`)
  }
  const loginId = randomBytes(32).toString('base64url')
  const now = new Date()
  const ttl = Math.min(grant.expires_in, LOGIN_TTL_SECONDS)
  const expiresAt = new Date(now.getTime() + ttl * 1000).toISOString()
  const interval = grant.interval ?? DEFAULT_INTERVAL_SECONDS
  await deps.db.deleteFrom('sso_logins').where('expires_at', '<', now.toISOString()).execute()
  await deps.db
    .insertInto('sso_logins')
    .values({id: sha256Hex(loginId), state: '', nonce: String(interval), code_verifier: grant.device_code, redirect_uri: DEVICE_MARKER, created_at: now.toISOString(), expires_at: expiresAt, used_at: null, pending: null})
    .execute()
  return {
    loginId,
    userCode: grant.user_code,
    verificationUri: grant.verification_uri,
    verificationUriComplete: grant.verification_uri_complete ?? null,
    interval,
    expiresAt,
  }
}

/**
 * One poll: asks the IdP's token endpoint once. Pending (and slow_down) answer "pending" with the
 * interval to wait; a refusal at the IdP (access_denied, expired_token) is audited like any other.
 */
export async function pollSsoDeviceLogin(deps: SsoDeps, input: {loginId: string}, sourceIp: string): Promise<SsoDevicePollResponse> {
  return audited(deps, sourceIp, async () => {
    const row = await deps.db.selectFrom('sso_logins').selectAll().where('id', '=', sha256Hex(input.loginId)).executeTakeFirst()
    if (!row || row.redirect_uri !== DEVICE_MARKER) throw new SsoRefusal('unknown-login', 'unknown or expired sign-in; start again (tether login --sso --device)')
    if (row.used_at !== null) throw new SsoRefusal('replayed', 'this sign-in was already completed; start again (tether login --sso --device)')
    if (row.expires_at <= new Date().toISOString()) throw new SsoRefusal('login-expired', 'the code was not confirmed in time; start again (tether login --sso --device)')
    const settings = await requireSettings(deps.db)
    const config = await deps.idp.configuration(settings)
    const interval = Number(row.nonce) || DEFAULT_INTERVAL_SECONDS
    let tokens: Awaited<ReturnType<typeof oidc.genericGrantRequest>>
    try {
      tokens = await oidc.genericGrantRequest(config, DEVICE_GRANT, {device_code: row.code_verifier})
    } catch (error) {
      if (error instanceof oidc.ResponseBodyError && error.error === 'authorization_pending') return {status: 'pending', interval}
      if (error instanceof oidc.ResponseBodyError && error.error === 'slow_down') {
        await deps.db.updateTable('sso_logins').set({nonce: String(interval + 5)}).where('id', '=', row.id).execute()
        return {status: 'pending', interval: interval + 5}
      }
      const denied = error instanceof oidc.ResponseBodyError && error.error === 'access_denied'
      throw new SsoRefusal(denied ? 'idp:access_denied' : reasonOf(error), denied ? 'the sign-in was denied at the identity provider' : `the identity provider's answer was refused: ${describe(error)}`)
    }
    // Used up before the user is signed in: a concurrent poll that also got tokens (it cannot: the
    // IdP honours a device code once) would be refused here.
    const used = await deps.db.updateTable('sso_logins').set({used_at: new Date().toISOString()}).where('id', '=', row.id).where('used_at', 'is', null).executeTakeFirst()
    if (Number(used.numUpdatedRows) !== 1) throw new SsoRefusal('replayed', 'this sign-in was already completed; start again (tether login --sso --device)')
    return {status: 'signed-in', tokens: await completeSignIn(deps, settings, config, row.id, tokens, sourceIp)}
  })
}

