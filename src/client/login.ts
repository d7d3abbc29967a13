import type {Dispatcher} from 'undici'
import type {TokenPair} from '../protocol/api/auth.js'
import {CredentialStore, type StoreKind} from '../shared/credential-store.js'
import {AuthError, TetherError, UsageError} from '../shared/errors.js'
import {AdminApi, type MfaEnrollment} from './admin-api.js'
import {ApiClient} from './api-client.js'
import {completeMfaEnrolment} from './mfa-enrolment.js'
import type {Trust} from './trust.js'

/** How login asks the user for what is missing; interactive only on a terminal. */
export interface LoginPrompter {
  readonly interactive: boolean
  username(): Promise<string>
  password(): Promise<string>
  code(message: string): Promise<string>
  /** Shows the otpauth URI (and a QR code on a terminal). */
  showEnrollment(enrollment: MfaEnrollment): Promise<void>
}

export interface LoginInput {
  server: string
  trust: Trust
  username?: string
  password?: string
  totp?: string
  prompter: LoginPrompter
  store?: CredentialStore
  dispatcher?: Dispatcher
}

export type LoginOutcome =
  | {status: 'logged-in'; server: string; username: string; role: string; mfaEnrolled: boolean; credentialStore: StoreKind; location: string}
  | {status: 'mfa-enrollment-required'; server: string; username: string; otpauthUri: string; secret: string}
  /** Enrolment confirmed without a terminal: log in again with the next code. */
  | {status: 'mfa-enabled'; server: string; username: string; mfaEnrolled: true}

/**
 * Logs in, handling both MFA cases: a code is required (ask, retry once), and MFA must first
 * be enrolled (enroll, confirm with a code, log in again with a code). Without a terminal the
 * enrolment stops after showing the URI: rerun with --totp CODE to confirm and log in.
 */
export async function login(input: LoginInput): Promise<LoginOutcome> {
  const {prompter} = input
  const username = input.username ?? (prompter.interactive ? await prompter.username() : missing('--username'))
  const password = input.password ?? (prompter.interactive ? await prompter.password() : missing('--password-stdin'))
  const client = new ApiClient({server: input.server, trust: input.trust, dispatcher: input.dispatcher})
  const api = new AdminApi(client)
  const store = input.store ?? new CredentialStore()
  try {
    let totp = input.totp
    let pair: TokenPair
    try {
      pair = await attempt(api, {username, password, totp})
    } catch (error) {
      if (!(error instanceof TetherError) || error.code !== 'MFA_REQUIRED' || totp || !prompter.interactive) throw error
      totp = await prompter.code('Authenticator code')
      pair = await attempt(api, {username, password, totp})
    }

    const enrolment = await completeMfaEnrolment({api, prompter, store, server: client.server, totp}, pair, (next) => attempt(api, {username, password, totp: next}))
    if (!enrolment.done) return enrolment.outcome
    pair = enrolment.pair
    const {mfaEnrolled} = enrolment
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

/** Logs out: revokes the refresh token on the server, then forgets the local session. */
export async function logout(options: {store?: CredentialStore; server?: string; dispatcher?: Dispatcher} = {}): Promise<{server: string; revoked: boolean; warning?: string}> {
  const store = options.store ?? new CredentialStore()
  const found = await store.load(options.server)
  const server = found?.session.server ?? options.server ?? (await store.settings()).currentServer
  if (!server) throw new AuthError('not logged in', {code: 'NOT_LOGGED_IN'})
  let revoked = false
  let warning: string | undefined
  if (found) {
    const {session} = found
    const client = new ApiClient({server, trust: {ca: session.ca, fingerprint: session.fingerprint}, dispatcher: options.dispatcher})
    try {
      await new AdminApi(client).logout(session.refreshToken)
      revoked = true
    } catch (error) {
      // The local copy is deleted anyway; say that the server-side revocation did not happen.
      warning = `the server did not revoke the session: ${error instanceof Error ? error.message : String(error)}`
    } finally {
      await client.close()
    }
  }
  await store.remove(server)
  return {server, revoked, ...(warning ? {warning} : {})}
}

/** POST /auth/login; a refusal reads "login failed" rather than "run tether login". */
async function attempt(api: AdminApi, creds: {username: string; password: string; totp?: string}): Promise<TokenPair> {
  try {
    return await api.login(creds)
  } catch (error) {
    if (error instanceof AuthError && error.code === 'AUTH') {
      throw new AuthError(`login failed: ${error.message.replace(/^not authenticated: /, '')}`, {cause: error, details: error.details})
    }
    throw error
  }
}

function missing(flag: string): never {
  throw new UsageError(`${flag} is required when not running on a terminal`)
}
