import fp from 'fastify-plugin'
import type {User} from '../db/schema.js'
import {openTotpSecret, sealTotpSecret} from './mfa-secret.js'
import {prepareMfaSecrets} from './mfa-startup.js'

/** The only way routes read or write users.mfa_secret: sealed at rest, plain in memory. */
export interface MfaSecrets {
  /** The value to store in users.mfa_secret for a new base32 secret. */
  seal(userId: string, secret: string): string
  /** The base32 secret of a row; an MFA_KEY error (500) when it does not open. */
  open(user: Pick<User, 'id'> & {mfa_secret: string}): string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** TOTP secrets sealed with the MFA key of the data dir (mfa-secret.ts). */
    mfaSecrets: MfaSecrets
  }
}

/**
 * Loads (or, for an older data dir, creates) the MFA key and seals plaintext secrets before
 * the server answers anything; a missing or wrong key stops the start (mfa-startup.ts).
 */
export const mfaPlugin = fp(
  async (app) => {
    const keyFile = app.config.auth.mfaKeyFile
    const {key, created, sealed} = await prepareMfaSecrets(app.db, app.dbDialect, keyFile)
    if (created) app.log.info({keyFile, keyId: key.id}, 'mfa: created the MFA key; every server node needs a copy of this file')
    if (sealed > 0) {
      app.log.info({sealed, keyId: key.id}, `mfa: sealed ${sealed} plaintext TOTP secret(s) with the MFA key`)
      // A one-time change of how the secrets are stored (not of what they are): on the record after it.
      await app.audit.append({actorType: 'system', actor: 'tether-server', action: 'users.mfa-secrets.sealed', outcome: 'success', details: {sealed, keyId: key.id}})
    }
    app.decorate('mfaSecrets', {
      seal: (userId, secret) => sealTotpSecret(key, userId, secret),
      open: (user) => openTotpSecret(key, user.id, user.mfa_secret),
    } satisfies MfaSecrets)
  },
  {name: 'tether-mfa', dependencies: ['tether-db', 'tether-audit']},
)
