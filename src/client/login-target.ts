import {CredentialStore} from '../shared/credential-store.js'
import {UsageError} from '../shared/errors.js'
import {normalizeServerUrl} from './api-client.js'
import {resolveTrust} from './session.js'
import type {AnchorSource} from './trust-errors.js'
import type {Trust} from './trust.js'

export interface LoginTargetInput {
  /** --server or TETHER_SERVER. */
  server?: string
  caFile?: string
  fingerprint?: string
  store?: CredentialStore
  /** Asks for the server URL on a terminal; absent without one. */
  ask?: () => Promise<string>
}

export interface LoginTarget {
  server: string
  trust: Trust
  /** What to name when the server's certificate does not chain to the anchor. */
  anchor: AnchorSource
}

/**
 * The server and trust anchor of a login: what the flags say, else the last server logged in to
 * with the anchor saved then, else (on a terminal) the server the user types.
 */
export async function loginTarget(input: LoginTargetInput): Promise<LoginTarget> {
  const store = input.store ?? new CredentialStore()
  const settings = await store.settings()
  const last = settings.lastServer ?? (settings.currentServer ? {server: settings.currentServer, ...settings.servers[settings.currentServer]} : undefined)
  let text = input.server ?? last?.server
  if (!text && input.ask) text = await input.ask()
  if (!text) {
    throw new UsageError('--server: no server given and no earlier login to reuse', {
      suggestions: ['tether login --server https://HOST:8443 --ca DATA_DIR/tls/ca.crt   (`tether server start` prints this line)'],
    })
  }
  const server = normalizeServerUrl(text)
  const given = await resolveTrust(server, {caFile: input.caFile, fingerprint: input.fingerprint})
  if (given) return {server, trust: given, anchor: {label: input.caFile ? `--ca ${input.caFile}` : '--fingerprint', pem: given.ca, file: input.caFile}}
  // No flag: the anchor saved for this server (a re-login, or a login after logout).
  const saved = settings.servers[server] ?? (last?.server === server ? last : undefined)
  const trust: Trust = saved ? {ca: saved.ca, fingerprint: saved.fingerprint} : {}
  return {server, trust, anchor: {label: 'the CA saved at the last login', pem: trust.ca}}
}
