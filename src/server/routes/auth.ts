import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import {ChangePasswordRequest, LoginRequest, LogoutRequest, MeResponse, MfaConfirmRequest, MfaEnrollResponse, RefreshRequest, TokenPair} from '../../protocol/api/auth.js'
import {Empty} from '../../protocol/api/common.js'
import {ConflictError, NotFoundError, RateLimitedError} from '../../shared/errors.js'
import {login} from '../auth/login.js'
import {changeOwnPassword} from '../auth/password-change.js'
import {passwordLoginRefused} from '../auth/sso/settings.js'
import {fieldError, principalOf} from '../auth/request-context.js'
import {auditedChange, auditRequest} from '../audit/plugin.js'
import {consumeTotp, newTotpSecret} from '../auth/totp.js'
import {findUserById, nowIso, toUserView} from '../users/store.js'

/** Login, refresh, logout, /me, the own password and MFA enrolment. */
export const authRoutes: FastifyPluginAsync = async (app) => {
  app.post('/auth/login', {schema: {body: LoginRequest, response: {200: TokenPair}}}, async (request, reply) => {
    const body = request.body as z.infer<typeof LoginRequest>
    try {
      const ssoRequired = (username: string) => passwordLoginRefused(app.db, username)
      return await login({db: app.db, sessions: app.sessions, audit: app.audit, throttle: app.config.auth, mfa: app.mfaSecrets, ssoRequired}, {...body, sourceIp: request.ip})
    } catch (error) {
      if (error instanceof RateLimitedError) reply.header('retry-after', String(error.details?.retryAfterSeconds ?? 1))
      throw error
    }
  })

  app.post('/auth/refresh', {schema: {body: RefreshRequest, response: {200: TokenPair}}}, async (request) => {
    const {refreshToken} = request.body as z.infer<typeof RefreshRequest>
    return app.sessions.refresh(refreshToken)
  })

  app.post('/auth/logout', {schema: {body: LogoutRequest}}, async (request, reply) => {
    const {refreshToken} = request.body as z.infer<typeof LogoutRequest>
    await app.audit.transaction(async (trx, record) => {
      const revoked = await app.sessions.logout(refreshToken, trx)
      if (!revoked) return
      const user = await findUserById(trx, revoked.userId)
      record({actorType: 'user', actor: user?.username ?? revoked.userId, sourceIp: request.ip, action: 'auth.logout', outcome: 'success'})
    })
    // Logging out an unknown token is not an error: the client's goal (no valid session) holds.
    return reply.code(204).send()
  })

  app.get('/me', {preHandler: app.requireAuth, schema: {response: {200: MeResponse}}}, async (request) => {
    const principal = principalOf(request)
    const user = await findUserById(app.db, principal.userId)
    if (!user) throw new NotFoundError('user not found')
    return {
      user: toUserView(user, principal.scope),
      permissions: principal.permissions,
      auth: principal.auth,
      ...(principal.tokenName ? {tokenName: principal.tokenName} : {}),
      mfaEnrollmentRequired: principal.mfaEnrollmentRequired,
    }
  })

  // An interactive login only: an API token must not turn into a password (and so into sessions).
  app.put('/me/password', {preHandler: app.requireSession, schema: {body: ChangePasswordRequest, response: {200: TokenPair}}}, async (request, reply) => {
    const body = request.body as z.infer<typeof ChangePasswordRequest>
    const audited = <T>(work: Parameters<typeof auditedChange<T>>[1]) => auditedChange(request, work)
    try {
      return await changeOwnPassword({db: app.db, sessions: app.sessions, throttle: app.config.auth, audited}, {...body, userId: principalOf(request).userId, sourceIp: request.ip})
    } catch (error) {
      if (error instanceof RateLimitedError) reply.header('retry-after', String(error.details?.retryAfterSeconds ?? 1))
      throw error
    }
  })

  // MFA enrolment is for an interactive login only: an API token enrolling its owner would lock
  // the owner's password-only login behind a secret only the token's holder has.
  app.post('/me/mfa/enroll', {preHandler: app.requireSession, schema: {body: Empty.nullish(), response: {200: MfaEnrollResponse}}}, async (request) => {
    const principal = principalOf(request)
    return auditedChange(request, async (trx, record) => {
      const user = await findUserById(trx, principal.userId)
      if (!user) throw new NotFoundError('user not found')
      // Replacing an active secret would let a stolen session take over the second factor.
      if (user.mfa_enabled === 1) throw new ConflictError('MFA is already active for this user')
      const enrolment = newTotpSecret(user.username)
      await trx.updateTable('users').set({mfa_secret: app.mfaSecrets.seal(user.id, enrolment.secret), updated_at: nowIso()}).where('id', '=', user.id).execute()
      record({action: 'user.mfa.enroll', outcome: 'success'})
      return enrolment
    })
  })

  app.post('/me/mfa/confirm', {preHandler: app.requireSession, schema: {body: MfaConfirmRequest}}, async (request, reply) => {
    const principal = principalOf(request)
    const {code} = request.body as z.infer<typeof MfaConfirmRequest>
    const confirmed = await auditedChange(request, async (trx, record) => {
      const user = await findUserById(trx, principal.userId)
      if (!user) throw new NotFoundError('user not found')
      if (user.mfa_enabled === 1) throw new ConflictError('MFA is already active for this user')
      if (!user.mfa_secret) throw new ConflictError('no MFA enrolment in progress: POST /me/mfa/enroll first')
      if (!(await consumeTotp(trx, app.mfaSecrets, user, code))) return false
      await trx.updateTable('users').set({mfa_enabled: 1, updated_at: nowIso()}).where('id', '=', user.id).execute()
      // Sessions from before MFA must not be refreshed into full ones: log in again with a code.
      await app.sessions.revokeRefreshTokens(user.id, trx)
      record({action: 'user.mfa.confirm', outcome: 'success'})
      return true
    })
    if (!confirmed) {
      await auditRequest(request, {action: 'user.mfa.confirm', outcome: 'failure'})
      throw fieldError('body.code', 'the code does not match the enrolled secret (check the device clock)')
    }
    return reply.code(204).send()
  })
}
