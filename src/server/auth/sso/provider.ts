import {readFile} from 'node:fs/promises'
import * as oidc from 'openid-client'
import {Agent, fetch as undiciFetch} from 'undici'
import {UnavailableError, UsageError} from '../../../shared/errors.js'
import {CLIENT_SECRET_BINDING, type SsoSettings} from './settings.js'

/**
 * The relying party's view of the identity provider: openid-client's Configuration, built from
 * the issuer's discovery document. openid-client keeps the issuer's keys (JWKS) inside the
 * Configuration and refetches them when a token names an unknown key, so caching the
 * Configuration caches both; it is rebuilt when the settings change or after DISCOVERY_TTL_MS
 * (an IdP that moved its endpoints is picked up without a restart).
 */
export const DISCOVERY_TTL_MS = 3600_000
/** Accepted clock skew between Tether and the IdP for iat/exp/nbf, in seconds: a bound, not a default. */
export const CLOCK_TOLERANCE_SECONDS = 30
/** An IdP that does not answer within this is treated as unavailable. */
const IDP_TIMEOUT_SECONDS = 10

export interface OpenSecret {
  open(user: {id: string; mfa_secret: string}): string
}

interface Cached {
  key: string
  at: number
  config: Promise<oidc.Configuration>
}

export class IdentityProvider {
  private cached: Cached | undefined

  constructor(private readonly secrets: OpenSecret) {}

  /** The Configuration for these settings (discovery on first use, then cached). */
  async configuration(settings: SsoSettings): Promise<oidc.Configuration> {
    const key = JSON.stringify([settings.issuer, settings.clientId, settings.sealedClientSecret, settings.issuerCaFile, settings.updatedAt])
    if (this.cached && this.cached.key === key && Date.now() - this.cached.at < DISCOVERY_TTL_MS) return this.cached.config
    const config = this.discover(settings)
    this.cached = {key, at: Date.now(), config}
    // A failed discovery is not cached: the next sign-in tries again.
    config.catch(() => {
      if (this.cached?.config === config) this.cached = undefined
    })
    return config
  }

  private async discover(settings: SsoSettings): Promise<oidc.Configuration> {
    const secret = this.secrets.open({id: CLIENT_SECRET_BINDING, mfa_secret: settings.sealedClientSecret})
    const fetcher = await fetchFor(settings.issuerCaFile)
    try {
      const config = await oidc.discovery(new URL(settings.issuer), settings.clientId, {[oidc.clockTolerance]: CLOCK_TOLERANCE_SECONDS}, oidc.ClientSecretBasic(secret), {
        [oidc.customFetch]: fetcher,
        timeout: IDP_TIMEOUT_SECONDS,
      })
      config.timeout = IDP_TIMEOUT_SECONDS
      // Verify the ID token's signature too, though it comes straight from the token endpoint over
      // TLS (OIDC Core lets a client skip that): a token-endpoint proxy or TLS slip is then caught.
      oidc.enableNonRepudiationChecks(config)
      return config
    } catch (error) {
      throw new UnavailableError(`the identity provider ${settings.issuer} cannot be used: ${describe(error)}`, {cause: error})
    }
  }
}

/** fetch with the issuer's private CA when one is configured (the system store otherwise). */
async function fetchFor(caFile: string | null): Promise<oidc.CustomFetch> {
  let dispatcher: Agent | undefined
  if (caFile) {
    let ca: string
    try {
      ca = await readFile(caFile, 'utf8')
    } catch (error) {
      throw new UsageError(`cannot read the issuer CA file ${caFile}: ${(error as Error).message}`, {cause: error})
    }
    dispatcher = new Agent({connect: {ca}})
  }
  return (async (url: string, options: oidc.CustomFetchOptions) =>
    undiciFetch(url, {...(options as object), ...(dispatcher ? {dispatcher} : {})} as Parameters<typeof undiciFetch>[1])) as unknown as oidc.CustomFetch
}

export function describe(error: unknown): string {
  if (error instanceof oidc.ResponseBodyError) return `${error.error}${error.error_description ? `: ${error.error_description}` : ''}`
  const cause = (error as {cause?: unknown}).cause
  const message = error instanceof Error ? error.message : String(error)
  return cause instanceof Error && !message.includes(cause.message) ? `${message} (${cause.message})` : message
}
