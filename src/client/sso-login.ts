import type {Dispatcher} from 'undici'
import {TokenPair} from '../protocol/api/auth.js'
import {SsoCallbackRequest, SsoStartRequest, SsoStartResponse, SsoTotpRequest} from '../protocol/api/sso.js'
import {CredentialStore} from '../shared/credential-store.js'
import {TetherError} from '../shared/errors.js'
import {ApiClient} from './api-client.js'
import type {LoginOutcome, LoginPrompter} from './login.js'
import {listenForRedirect, openBrowser} from './sso-loopback.js'
import type {Trust} from './trust.js'

export interface SsoLoginInput {
  server: string
  trust: Trust
  prompter: LoginPrompter
  /** Fixed loopback port, for IdPs that match the redirect URI's port exactly. */
  port?: number
  totp?: string
  /** Shows the authorization URL (always: the browser may not open, or open elsewhere). */
  show(url: string, opened: boolean): void
  open?: (url: string) => Promise<boolean>
  store?: CredentialStore
  dispatcher?: Dispatcher
}

/**
 * `tether login --sso`: the server is the relying party. The CLI asks it for an authorization URL
 * (the server keeps the PKCE verifier, state and nonce), opens the browser, receives the redirect
 * on a loopback listener and forwards the URL with its login id; the server exchanges the code and
 * answers with a Tether session (or asks for Tether's TOTP when the IdP showed no MFA).
 */
export async function ssoLogin(input: SsoLoginInput): Promise<LoginOutcome> {
  const client = new ApiClient({server: input.server, trust: input.trust, dispatcher: input.dispatcher})
  const listener = await listenForRedirect(input.port)
  try {
    const start = await client.call('POST', '/auth/sso/start', {body: {redirectUri: listener.redirectUri}, bodySchema: SsoStartRequest, response: SsoStartResponse, auth: false})
    const opened = await (input.open ?? openBrowser)(start.authorizationUrl)
    input.show(start.authorizationUrl, opened)
    const callbackUrl = await listener.callback
    let pair: TokenPair
    try {
      pair = await client.call('POST', '/auth/sso/callback', {body: {loginId: start.loginId, callbackUrl}, bodySchema: SsoCallbackRequest, response: TokenPair, auth: false})
    } catch (error) {
      if (!(error instanceof TetherError) || error.code !== 'MFA_REQUIRED') throw error
      const totp = input.totp ?? (await input.prompter.code('Your identity provider did not report MFA. Authenticator code'))
      pair = await client.call('POST', '/auth/sso/totp', {body: {loginId: start.loginId, totp}, bodySchema: SsoTotpRequest, response: TokenPair, auth: false})
    }
    const store = input.store ?? new CredentialStore()
    const where = await store.save({
      server: client.server,
      username: pair.user.username,
      ca: input.trust.ca,
      fingerprint: input.trust.fingerprint,
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      savedAt: new Date().toISOString(),
    })
    return {status: 'logged-in', server: client.server, username: pair.user.username, role: pair.user.role, mfaEnrolled: false, credentialStore: where.store, location: where.location}
  } finally {
    await listener.close()
    await client.close()
  }
}
