import {join} from 'node:path'
import type {Dispatcher} from 'undici'
import {CredentialStore, type StoreKind} from '../shared/credential-store.js'
import {AuthError, UsageError} from '../shared/errors.js'
import {AdminApi} from './admin-api.js'
import {ApiClient, normalizeServerUrl} from './api-client.js'
import {withFileLock} from './file-lock.js'
import {type AnchorSource, explainUntrusted} from './trust-errors.js'
import {fetchPinnedCertificate, normalizeFingerprint, readCaFile, type Trust} from './trust.js'

/** The credentials a command runs with, and where they came from (shown by whoami). */
export interface ActiveSession {
  server: string
  trust: Trust
  source: StoreKind | 'env'
  /** "the OS keychain", "<file> (0600; …)" or "TETHER_TOKEN". */
  location: string
  username?: string
  accessToken: string
  refreshToken?: string
}

export interface OpenOptions {
  store?: CredentialStore
  env?: NodeJS.ProcessEnv
  dispatcher?: Dispatcher
}

/**
 * Picks the session: TETHER_TOKEN (+ TETHER_SERVER, TETHER_CA / TETHER_FINGERPRINT) for
 * scripts, else the stored login for TETHER_SERVER or the current server.
 */
export async function resolveSession(options: OpenOptions = {}): Promise<ActiveSession> {
  const env = options.env ?? process.env
  const store = options.store ?? new CredentialStore()
  const settings = await store.settings()
  const server = env.TETHER_SERVER ? normalizeServerUrl(env.TETHER_SERVER, 'TETHER_SERVER') : settings.currentServer
  const envTrust = await trustFromEnv(env)

  if (env.TETHER_TOKEN) {
    if (!server) throw new UsageError('TETHER_TOKEN is set but no server is known: set TETHER_SERVER too')
    const known = settings.servers[server]
    return {server, trust: envTrust ?? {ca: known?.ca, fingerprint: known?.fingerprint}, source: 'env', location: 'TETHER_TOKEN', accessToken: env.TETHER_TOKEN}
  }

  if (!server) throw notLoggedIn()
  const found = await store.load(server)
  if (!found) throw notLoggedIn(server)
  const {session, where} = found
  return {
    server,
    trust: envTrust ?? {ca: session.ca, fingerprint: session.fingerprint},
    source: where.store,
    location: where.location,
    username: session.username,
    accessToken: session.accessToken,
    refreshToken: session.refreshToken,
  }
}

/** An API client for the active session; refreshed tokens are written back to the store. */
export async function openApi(options: OpenOptions = {}): Promise<{api: AdminApi; session: ActiveSession}> {
  const store = options.store ?? new CredentialStore()
  const session = await resolveSession({...options, store})
  const client = new ApiClient({
    server: session.server,
    trust: session.trust,
    accessToken: session.accessToken,
    refreshToken: session.refreshToken,
    dispatcher: options.dispatcher,
    refreshGuard: session.source === 'env' ? undefined : (fn) =>
      withFileLock(join(store.dir, 'refresh.lock'), async () => {
        const current = await store.load(session.server)
        return fn(current ? {accessToken: current.session.accessToken, refreshToken: current.session.refreshToken} : null)
      }),
    onRefresh: async (pair) => {
      session.accessToken = pair.accessToken
      session.refreshToken = pair.refreshToken
      await store.save(
        {server: session.server, username: session.username ?? pair.user.username, ca: session.trust.ca, fingerprint: session.trust.fingerprint, accessToken: pair.accessToken, refreshToken: pair.refreshToken, savedAt: new Date().toISOString()},
        {makeCurrent: false},
      )
    },
  })
  return {api: new AdminApi(client), session}
}

/** Runs fn with an API client and always closes its connections. */
export async function withApi<T>(fn: (api: AdminApi, session: ActiveSession) => Promise<T>, options: OpenOptions = {}): Promise<T> {
  const {api, session} = await openApi(options)
  try {
    return await fn(api, session)
  } catch (error) {
    throw explainUntrusted(error, anchorOf(session, options.env ?? process.env))
  } finally {
    await api.client.close()
  }
}

/** Trust from --ca / --fingerprint style inputs; a fingerprint is turned into a pinned anchor. */
export async function resolveTrust(server: string, input: {caFile?: string; fingerprint?: string}, names = {ca: '--ca', fingerprint: '--fingerprint'}): Promise<Trust | undefined> {
  if (input.caFile && input.fingerprint) throw new UsageError(`${names.ca} and ${names.fingerprint} cannot be used together`)
  if (input.caFile) return {ca: await readCaFile(input.caFile, names.ca)}
  if (input.fingerprint) {
    const fingerprint = normalizeFingerprint(input.fingerprint, names.fingerprint)
    return {ca: await fetchPinnedCertificate(server, fingerprint), fingerprint}
  }
  return undefined
}

async function trustFromEnv(env: NodeJS.ProcessEnv): Promise<Trust | undefined> {
  if (!env.TETHER_CA && !env.TETHER_FINGERPRINT) return undefined
  const server = env.TETHER_SERVER
  if (env.TETHER_FINGERPRINT && !server) throw new UsageError('TETHER_FINGERPRINT needs TETHER_SERVER')
  return resolveTrust(server ? normalizeServerUrl(server, 'TETHER_SERVER') : '', {caFile: env.TETHER_CA, fingerprint: env.TETHER_FINGERPRINT}, {ca: 'TETHER_CA', fingerprint: 'TETHER_FINGERPRINT'})
}

/** Where the session's trust anchor came from, for the "certificate not trusted" message. */
function anchorOf(session: ActiveSession, env: NodeJS.ProcessEnv): AnchorSource {
  if (env.TETHER_CA) return {label: `TETHER_CA=${env.TETHER_CA}`, pem: session.trust.ca, file: env.TETHER_CA}
  if (env.TETHER_FINGERPRINT) return {label: 'TETHER_FINGERPRINT', pem: session.trust.ca}
  return {label: 'the CA saved at login', pem: session.trust.ca, fromEnv: session.source === 'env'}
}

function notLoggedIn(server?: string): AuthError {
  return new AuthError(server ? `not logged in to ${server}` : 'not logged in', {
    code: 'NOT_LOGGED_IN',
    suggestions: ['tether login --server https://HOST:8443 --ca server-ca.pem   (or set TETHER_SERVER and TETHER_TOKEN)'],
  })
}
