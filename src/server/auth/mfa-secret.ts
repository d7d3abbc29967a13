import {createCipheriv, createDecipheriv, randomBytes} from 'node:crypto'
import {TetherError} from '../../shared/errors.js'
import type {MfaKey} from './mfa-key.js'

/**
 * TOTP secrets at rest: users.mfa_secret holds `v1:<keyId>:<iv>:<ciphertext+tag>` (base64url),
 * AES-256-GCM under the MFA key with a fresh 96-bit IV per secret and the user id as associated
 * data, so a sealed secret copied onto another user's row does not open. The key id says which
 * key sealed it, for a future rotation and for a clear error when a node has the wrong key file.
 */
export const SEALED_VERSION = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16

/** What a stored value is: sealed (any version) or a plaintext base32 secret from before v1. */
export type StoredSecret = {sealed: true; version: string; keyId: string} | {sealed: false}

export function describeStored(stored: string): StoredSecret {
  // Base32 has no ':', so a prefix like "v1:" can never be a legacy plaintext secret.
  const match = /^(v\d+):([^:]*):/.exec(stored)
  return match ? {sealed: true, version: match[1], keyId: match[2]} : {sealed: false}
}

export function sealTotpSecret(key: MfaKey, userId: string, secret: string): string {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key.key, iv)
  cipher.setAAD(Buffer.from(userId, 'utf8'))
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()])
  return [SEALED_VERSION, key.id, iv.toString('base64url'), body.toString('base64url')].join(':')
}

/**
 * The base32 secret of a user. Anything that does not open with this key for this user (not
 * sealed, another key, altered, copied from another row) is an MFA_KEY error, a 500: the
 * server must not guess, and a code can never be checked against a secret it cannot trust.
 * The client sees a generic message; the cause, logged by the error handler, names the problem.
 */
export function openTotpSecret(key: MfaKey, userId: string, stored: string): string {
  const what = describeStored(stored)
  if (!what.sealed) throw unreadable(`the TOTP secret of user ${userId} is not sealed (written by an older tether?); restart the server to seal it`)
  if (what.version !== SEALED_VERSION) throw unreadable(`the TOTP secret of user ${userId} is sealed in format ${what.version}, which this tether does not know`)
  if (what.keyId !== key.id) throw unreadable(`the TOTP secret of user ${userId} is sealed with MFA key ${what.keyId}, but ${key.file} is key ${key.id}`)
  const [, , ivText = '', bodyText = ''] = stored.split(':')
  const iv = Buffer.from(ivText, 'base64url')
  const body = Buffer.from(bodyText, 'base64url')
  const altered = `the TOTP secret of user ${userId} does not authenticate under MFA key ${key.id} (${key.file}): the row was altered or copied from another user`
  if (iv.length !== IV_BYTES || body.length <= TAG_BYTES) throw unreadable(altered)
  const decipher = createDecipheriv('aes-256-gcm', key.key, iv)
  decipher.setAAD(Buffer.from(userId, 'utf8'))
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
  const plain = decipher.update(body.subarray(0, body.length - TAG_BYTES))
  try {
    return Buffer.concat([plain, decipher.final()]).toString('utf8')
  } catch (error) {
    // GCM final() fails only on authentication: the ciphertext, IV or associated data changed.
    throw unreadable(altered, error)
  }
}

function unreadable(detail: string, cause?: unknown): TetherError {
  return new TetherError('the server cannot check one-time codes for this account: its MFA key does not open the stored secret (an administrator must check the server log)', {
    code: 'MFA_KEY',
    cause: new Error(detail, cause === undefined ? undefined : {cause}),
  })
}
