import type {TokenPair} from '../protocol/api/auth.js'
import type {CredentialStore} from '../shared/credential-store.js'
import type {AdminApi} from './admin-api.js'
import type {LoginOutcome, LoginPrompter} from './login.js'

export type EnrolmentStep =
  | {done: true; pair: TokenPair; mfaEnrolled: boolean}
  | {done: false; outcome: Extract<LoginOutcome, {status: 'mfa-enrollment-required' | 'mfa-enabled'}>}

/**
 * MFA enrolment after a login whose session is limited to it, the same for a password and an SSO
 * sign-in: show the otpauth URI, confirm with a code, sign in again with the next one. Without a
 * terminal it stops after each step (exit 3) and the next run with --totp goes on; `relogin` is
 * the sign-in again (password, or the SSO round trip) with the next code.
 */
export async function completeMfaEnrolment(
  input: {api: AdminApi; prompter: LoginPrompter; store: CredentialStore; server: string; totp?: string},
  pair: TokenPair,
  relogin: (totp: string) => Promise<TokenPair>,
): Promise<EnrolmentStep> {
  const {api, prompter, store, server} = input
  const username = pair.user.username
  let mfaEnrolled = false
  if (pair.mfaEnrollmentRequired) {
    let totp = input.totp
    if (!totp) {
      const enrollment = await api.enrollMfa(pair.accessToken)
      await prompter.showEnrollment(enrollment)
      if (!prompter.interactive) return {done: false, outcome: {status: 'mfa-enrollment-required', server, username, otpauthUri: enrollment.otpauthUri, secret: enrollment.secret}}
      totp = await prompter.code('Code shown by your authenticator app')
    }
    await api.confirmMfa(pair.accessToken, totp)
    mfaEnrolled = true
    // Servers refuse a code twice (replay protection): the new login needs the next code.
    if (!prompter.interactive) {
      // The next run logs in with the next code and reports mfaEnrolled: true then.
      await store.mfaEnrolment(server, username, true)
      return {done: false, outcome: {status: 'mfa-enabled', server, username, mfaEnrolled: true}}
    }
    pair = await relogin(await prompter.code('MFA is on. Wait for the NEXT code and enter it'))
  }
  // A login right after a scripted enrolment (previous run) reports it too.
  if (await store.mfaEnrolment(server, pair.user.username, false)) mfaEnrolled = true
  return {done: true, pair, mfaEnrolled}
}
