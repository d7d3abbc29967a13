import type {Kysely} from 'kysely'
import type {TokenPair} from '../../protocol/api/auth.js'
import {AuthError, RateLimitedError} from '../../shared/errors.js'
import type {AuditLog, RecordAudit} from '../audit/types.js'
import type {Database} from '../db/schema.js'
import {findUserByName} from '../users/store.js'
import {dummyPasswordHash, verifyPassword} from './passwords.js'
import type {MfaSecrets} from './mfa-plugin.js'
import type {SessionService} from './sessions.js'
import {checkThrottle, clearFailures, recordFailure, type ThrottleSettings, throttleKeys} from './throttle.js'
import {consumeTotp} from './totp.js'

export interface LoginInput {
  username: string
  password: string
  totp?: string
  sourceIp: string
}

/** One message for every credential failure: it never says which part was wrong. */
const BAD_CREDENTIALS = 'invalid username, password or one-time code'

/**
 * POST /auth/login. Order matters: the throttle is consulted before any password work (a locked
 * key costs the attacker nothing and us little), unknown users are verified against a dummy hash
 * so timing does not reveal them, and every outcome is audited. The password is checked before
 * any transaction (scrypt must not hold the database); what a login changes (failure counters,
 * the TOTP counter, the refresh token) commits together with its audit event.
 */
export async function login(
  deps: {
    db: Kysely<Database>
    sessions: SessionService
    audit: AuditLog
    throttle: ThrottleSettings
    mfa: Pick<MfaSecrets, 'open'>
    /** True when this account must sign in with SSO (sso/settings.ts ssoOnly, break-glass excepted). */
    ssoRequired?: (username: string) => Promise<boolean>
  },
  input: LoginInput,
): Promise<TokenPair> {
  const {db, sessions, audit} = deps
  const keys = throttleKeys(input.username, input.sourceIp)
  const base = {actorType: 'user' as const, actor: input.username, action: 'auth.login', sourceIp: input.sourceIp}

  const verdict = await checkThrottle(db, keys, deps.throttle)
  if (verdict.kind === 'locked') {
    await audit.append({...base, outcome: 'failure', details: {reason: 'locked', lockedKey: verdict.key.kind, until: verdict.until}})
    throw new AuthError(`too many failed logins; locked until ${verdict.until}`, {code: 'LOCKED', details: {until: verdict.until}})
  }
  if (verdict.kind === 'wait') {
    throw new RateLimitedError(`too many failed logins; retry in ${verdict.retryAfterSeconds} s`, {details: {retryAfterSeconds: verdict.retryAfterSeconds}})
  }

  const user = await findUserByName(db, input.username)
  const passwordOk = await verifyPassword(input.password, user?.password_hash ?? (await dummyPasswordHash()))

  /** Counts the failure and audits it (and any lockout it causes), in the caller's transaction. */
  const recordFailedLogin = async (trx: Kysely<Database>, record: RecordAudit, reason: string): Promise<Failed> => {
    record({...base, outcome: 'failure', details: {reason}})
    const locked = await recordFailure(trx, keys, deps.throttle)
    for (const lock of locked) {
      record({
        actorType: 'system',
        actor: 'tether-server',
        action: 'auth.lockout',
        outcome: 'success',
        sourceIp: input.sourceIp,
        details: {key: lock.key.kind, username: input.username, failures: lock.failures, until: lock.until},
      })
    }
    return {failed: true, lockedUntil: locked[0]?.until}
  }

  let outcome: TokenPair | Failed
  if (!user || !passwordOk || user.disabled_at !== null) {
    const reason = !user ? 'unknown-user' : !passwordOk ? 'bad-password' : 'disabled'
    outcome = await audit.transaction((trx, record) => recordFailedLogin(trx, record, reason))
  } else if (await deps.ssoRequired?.(user.username)) {
    // Told only after the password was right, so it reveals nothing to a guesser.
    await audit.append({...base, outcome: 'failure', details: {reason: 'sso-required'}})
    throw new AuthError('this server requires single sign-on for your account: tether login --sso', {code: 'SSO_REQUIRED'})
  } else if (user.mfa_enabled === 1 && input.totp === undefined) {
    // Not a failure: the client learns a code is needed only after the password was right.
    throw new AuthError('a one-time code from the authenticator app is required', {code: 'MFA_REQUIRED'})
  } else {
    outcome = await audit.transaction(async (trx, record) => {
      if (user.mfa_enabled === 1 && !(await consumeTotp(trx, deps.mfa, user, input.totp ?? ''))) return recordFailedLogin(trx, record, 'bad-totp')
      await clearFailures(trx, keys[0])
      const pair = await sessions.issueTokenPair(user, trx)
      record({...base, outcome: 'success', details: {mfa: user.mfa_enabled === 1, mfaEnrollmentRequired: pair.mfaEnrollmentRequired}})
      return pair
    })
  }
  if ('failed' in outcome) {
    if (outcome.lockedUntil) throw new AuthError(`too many failed logins; locked until ${outcome.lockedUntil}`, {code: 'LOCKED', details: {until: outcome.lockedUntil}})
    throw new AuthError(BAD_CREDENTIALS)
  }
  return outcome
}

interface Failed {
  failed: true
  lockedUntil?: string
}
