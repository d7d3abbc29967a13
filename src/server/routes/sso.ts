import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import {TokenPair} from '../../protocol/api/auth.js'
import {
  SsoCallbackRequest,
  SsoDevicePollRequest,
  SsoDevicePollResponse,
  SsoDeviceStartRequest,
  SsoDeviceStartResponse,
  SsoStartRequest,
  SsoStartResponse,
  SsoTotpRequest,
} from '../../protocol/api/sso.js'
import {asFieldError} from '../auth/request-context.js'
import {finishSsoLogin, finishSsoTotp, type SsoDeps, startSsoLogin} from '../auth/sso/flow.js'
import {pollSsoDeviceLogin, startSsoDeviceLogin} from '../auth/sso/device-flow.js'
import {IdentityProvider} from '../auth/sso/provider.js'
import {recheckSsoSession} from '../auth/sso/recheck.js'
import {sweepExpiredSsoLogins} from '../auth/sso/sso-sessions.js'
import {consumeTotp} from '../auth/totp.js'

/** How often abandoned sign-ins are deleted (they expire after flow.ts LOGIN_TTL_SECONDS). */
const LOGIN_SWEEP_MS = 10 * 60_000

/**
 * Sign-in with the OpenID Connect provider (docs/sso.md). Tether is the relying party: the CLI
 * only relays the browser's redirect, the code exchange and every check happen here. These
 * routes authenticate by their body, like /auth/login (auth/plugin.ts CREDENTIAL_ROUTES).
 */
export const ssoRoutes: FastifyPluginAsync = async (app) => {
  const deps: SsoDeps = {
    db: app.db,
    audit: app.audit,
    sessions: app.sessions,
    secrets: {seal: (id, secret) => app.mfaSecrets.seal(id, secret), open: (row) => app.mfaSecrets.open(row)},
    idp: new IdentityProvider(app.mfaSecrets),
    mfaForReadOnlyRoles: app.config.auth.mfaForReadOnlyRoles,
    throttle: app.config.auth,
  }
  app.sessions.useSsoRefreshCheck((ssoSessionId, user) => recheckSsoSession(deps, ssoSessionId, user))

  // Each start also deletes expired rows, but a server nobody signs in to would keep them (with
  // their PKCE verifiers and device codes) forever: a slow sweep covers that.
  let sweep: NodeJS.Timeout | undefined
  app.addHook('onReady', async () => {
    sweep = setInterval(() => {
      sweepExpiredSsoLogins(app.db).catch((error: unknown) => app.log.warn({err: error}, 'sso: sweeping expired sign-ins failed; retried later'))
    }, LOGIN_SWEEP_MS)
    sweep.unref()
  })
  app.addHook('onClose', async () => clearInterval(sweep))

  app.post('/auth/sso/start', {schema: {body: SsoStartRequest, response: {200: SsoStartResponse}}}, async (request) => {
    const {redirectUri} = request.body as z.infer<typeof SsoStartRequest>
    return startSsoLogin(deps, redirectUri).catch((error: unknown) => {
      throw asFieldError(error)
    })
  })

  app.post('/auth/sso/callback', {schema: {body: SsoCallbackRequest, response: {200: TokenPair}}}, async (request) => {
    const body = request.body as z.infer<typeof SsoCallbackRequest>
    return finishSsoLogin(deps, body, request.ip).catch((error: unknown) => {
      throw asFieldError(error)
    })
  })

  app.post('/auth/sso/device/start', {schema: {body: SsoDeviceStartRequest, response: {200: SsoDeviceStartResponse}}}, async () => startSsoDeviceLogin(deps))

  app.post('/auth/sso/device/poll', {schema: {body: SsoDevicePollRequest, response: {200: SsoDevicePollResponse}}}, async (request) => {
    const body = request.body as z.infer<typeof SsoDevicePollRequest>
    return pollSsoDeviceLogin(deps, body, request.ip)
  })

  app.post('/auth/sso/totp', {schema: {body: SsoTotpRequest, response: {200: TokenPair}}}, async (request) => {
    const body = request.body as z.infer<typeof SsoTotpRequest>
    return finishSsoTotp(deps, body, request.ip, (user, code) => consumeTotp(app.db, app.mfaSecrets, user, code))
  })
}
