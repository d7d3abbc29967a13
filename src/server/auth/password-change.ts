import type {Kysely} from 'kysely'
import type {TokenPair} from '../../protocol/api/auth.js'
import {AuthError, NotFoundError, RateLimitedError} from '../../shared/errors.js'
import type {RequestAuditInput} from '../audit/plugin.js'
import type {Database} from '../db/schema.js'
import {assertLocalPassword, preparePassword, setPassword} from '../users/service.js'
import {findUserById} from '../users/store.js'
import {verifyPassword} from './passwords.js'
import {fieldError} from './request-context.js'
import type {SessionService} from './sessions.js'
import {checkThrottle, clearFailures, recordFailure, type ThrottleSettings, throttleKeys} from './throttle.js'

/** An audited transaction on behalf of the request (audit/plugin.ts auditedChange, bound). */
export type AuditedChange = <T>(work: (trx: Kysely<Database>, record: (input: RequestAuditInput) => void) => Promise<T>) => Promise<T>

export interface ChangePasswordInput {
  userId: string
  currentPassword: string
  newPassword: string
  sourceIp: string
}

/**
 * PUT /me/password. The current password is a login in all but name, so it goes through the
 * login throttle (same keys: a stolen session cannot guess it faster than a login could, and its
 * failures lock the account the same way). Strength is checked first: it is free and says nothing
 * about the current password. On success every session of the user ends (epoch and refresh
 * tokens, like disabling does, minus the API tokens) and the caller gets a new pair in the same
 * transaction as the change and its audit event, so it is never logged out by its own change.
 */
export async function changeOwnPassword(
  deps: {db: Kysely<Database>; sessions: SessionService; throttle: ThrottleSettings; audited: AuditedChange},
  input: ChangePasswordInput,
): Promise<TokenPair> {
  const {db, audited} = deps
  const user = await findUserById(db, input.userId)
  if (!user) throw new NotFoundError('user not found')
  await assertLocalPassword(db, user)
  const prepared = await preparePassword(input.newPassword, 'body.newPassword', user.username)
  if (input.newPassword === input.currentPassword) throw fieldError('body.newPassword', 'must differ from the current password')

  const keys = throttleKeys(user.username, input.sourceIp)
  const verdict = await checkThrottle(db, keys, deps.throttle)
  if (verdict.kind === 'locked') throw new AuthError(`too many failed password checks; locked until ${verdict.until}`, {code: 'LOCKED', details: {until: verdict.until}})
  if (verdict.kind === 'wait') {
    throw new RateLimitedError(`too many failed password checks; retry in ${verdict.retryAfterSeconds} s`, {details: {retryAfterSeconds: verdict.retryAfterSeconds}})
  }

  if (!(await verifyPassword(input.currentPassword, user.password_hash))) {
    const locked = await audited(async (trx, record) => {
      record({action: 'user.password.changed', outcome: 'failure', details: {reason: 'bad-current-password'}})
      const locked = await recordFailure(trx, keys, deps.throttle)
      for (const lock of locked) {
        record({actorType: 'system', actor: 'tether-server', action: 'auth.lockout', outcome: 'success', details: {key: lock.key.kind, username: user.username, failures: lock.failures, until: lock.until}})
      }
      return locked[0]?.until
    })
    if (locked) throw new AuthError(`too many failed password checks; locked until ${locked}`, {code: 'LOCKED', details: {until: locked}})
    // A 400, not a 401: the session is fine, and a client must not answer this with a refresh and a retry.
    throw fieldError('body.currentPassword', 'is not your current password')
  }

  return audited(async (trx, record) => {
    const sessionsEnded = await setPassword(trx, user, prepared.passwordHash)
    await clearFailures(trx, keys[0])
    const fresh = await findUserById(trx, user.id)
    if (!fresh) throw new NotFoundError('user not found')
    const pair = await deps.sessions.issueTokenPair(fresh, trx)
    record({action: 'user.password.changed', outcome: 'success', details: {username: user.username, sessionsEnded}})
    return pair
  })
}
