import {setTimeout as sleep} from 'node:timers/promises'
import type {Dispatcher} from 'undici'
import {TokenPair} from '../protocol/api/auth.js'
import {
  SsoCallbackRequest,
  SsoDevicePollRequest,
  SsoDevicePollResponse,
  SsoDeviceStartRequest,
  SsoDeviceStartResponse,
  SsoStartRequest,
  SsoStartResponse,
  SsoTotpRequest,
} from '../protocol/api/sso.js'
import {CredentialStore} from '../shared/credential-store.js'
import {TetherError, UsageError} from '../shared/errors.js'
import {AdminApi} from './admin-api.js'
import {ApiClient} from './api-client.js'
import type {LoginOutcome, LoginPrompter} from './login.js'
import {completeMfaEnrolment} from './mfa-enrolment.js'
import {listenForRedirect, openBrowser} from './sso-loopback.js'
import type {Trust} from './trust.js'

/** What the user is shown for a device sign-in: the code to type and where. */
export interface DeviceCode {
  userCode: string
  verificationUri: string
  verificationUriComplete: string | null
  expiresAt: string
}

export interface SsoLoginInput {
  server: string
  trust: Trust
  prompter: LoginPrompter
  /** Device authorization grant (a code to type on another device) instead of the loopback redirect. */
  device?: boolean
  /** Fixed loopback port, for IdPs that match the redirect URI's port exactly. */
  port?: number
  totp?: string
  /** Shows the authorization URL (always: the browser may not open, or open elsewhere). */
  show(url: string, opened: boolean): void
  /** Shows the device code and URL (--device). */
  showCode?(code: DeviceCode): void
  open?: (url: string) => Promise<boolean>
  /** Waits between device polls (tests pass a quicker one). */
  wait?: (seconds: number) => Promise<void>
  store?: CredentialStore
  dispatcher?: Dispatcher
}

/**
 * `tether login --sso`: the server is the relying party. The CLI asks it for an authorization URL
 * (the server keeps the PKCE verifier, state and nonce), opens the browser, receives the redirect
 * on a loopback listener and forwards the URL with its login id; the server exchanges the code and
 * answers with a Tether session (or asks for Tether's TOTP when the IdP showed no MFA). With
 * --device the server starts the IdP's device grant instead and the CLI polls it. A session that
 * must first enrol Tether's TOTP goes through the same enrolment as a password login.
 */
export async function ssoLogin(input: SsoLoginInput): Promise<LoginOutcome> {
  const client = new ApiClient({server: input.server, trust: input.trust, dispatcher: input.dispatcher})
  const store = input.store ?? new CredentialStore()
  try {
    const signIn = (totp: string | undefined) => (input.device ? deviceSignIn(client, input, totp) : browserSignIn(client, input, totp))
    const enrolment = await completeMfaEnrolment({api: new AdminApi(client), prompter: input.prompter, store, server: client.server, totp: input.totp}, await signIn(input.totp), signIn)
    if (!enrolment.done) return enrolment.outcome
    const {pair, mfaEnrolled} = enrolment
    const where = await store.save({
      server: client.server,
      username: pair.user.username,
      ca: input.trust.ca,
      fingerprint: input.trust.fingerprint,
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
      savedAt: new Date().toISOString(),
    })
    return {status: 'logged-in', server: client.server, username: pair.user.username, role: pair.user.role, mfaEnrolled, credentialStore: where.store, location: where.location}
  } finally {
    await client.close()
  }
}

async function browserSignIn(client: ApiClient, input: SsoLoginInput, totp: string | undefined): Promise<TokenPair> {
  const listener = await listenForRedirect(input.port)
  try {
    const start = await client.call('POST', '/auth/sso/start', {body: {redirectUri: listener.redirectUri}, bodySchema: SsoStartRequest, response: SsoStartResponse, auth: false})
    const opened = await (input.open ?? openBrowser)(start.authorizationUrl)
    input.show(start.authorizationUrl, opened)
    const callbackUrl = await listener.callback
    return await withTotp(client, input, start.loginId, totp, () =>
      client.call('POST', '/auth/sso/callback', {body: {loginId: start.loginId, callbackUrl}, bodySchema: SsoCallbackRequest, response: TokenPair, auth: false}),
    )
  } finally {
    await listener.close()
  }
}

/** RFC 8628 from the CLI's side: show the code, then poll the server at the interval it names. */
async function deviceSignIn(client: ApiClient, input: SsoLoginInput, totp: string | undefined): Promise<TokenPair> {
  const start = await client.call('POST', '/auth/sso/device/start', {body: {}, bodySchema: SsoDeviceStartRequest, response: SsoDeviceStartResponse, auth: false})
  input.showCode?.({userCode: start.userCode, verificationUri: start.verificationUri, verificationUriComplete: start.verificationUriComplete, expiresAt: start.expiresAt})
  const wait = input.wait ?? ((seconds: number) => sleep(seconds * 1000))
  let interval = start.interval
  for (;;) {
    await wait(interval)
    const answer = await withTotp(client, input, start.loginId, totp, () =>
      client.call('POST', '/auth/sso/device/poll', {body: {loginId: start.loginId}, bodySchema: SsoDevicePollRequest, response: SsoDevicePollResponse, auth: false}),
    )
    if (!('status' in answer)) return answer
    if (answer.status === 'signed-in') return answer.tokens
    interval = answer.interval
  }
}

/** The sign-in step; when the IdP showed no MFA the server asks for Tether's TOTP on the same login id. */
async function withTotp<T>(client: ApiClient, input: SsoLoginInput, loginId: string, totp: string | undefined, step: () => Promise<T>): Promise<T | TokenPair> {
  try {
    return await step()
  } catch (error) {
    if (!(error instanceof TetherError) || error.code !== 'MFA_REQUIRED') throw error
    if (!totp && !input.prompter.interactive) throw new UsageError('your identity provider did not report MFA: rerun with --totp CODE (the code from your authenticator app)')
    const code = totp ?? (await input.prompter.code('Your identity provider did not report MFA. Authenticator code'))
    return client.call('POST', '/auth/sso/totp', {body: {loginId, totp: code}, bodySchema: SsoTotpRequest, response: TokenPair, auth: false})
  }
}
