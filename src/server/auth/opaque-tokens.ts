import {createHash, randomBytes} from 'node:crypto'

/**
 * Opaque secrets handed to clients: refresh tokens and API tokens. Only their SHA-256 is stored;
 * the secrets carry 256 random bits, so a fast hash is enough (no password-style stretching).
 */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

export function newId(): string {
  return randomBytes(8).toString('hex')
}

export const REFRESH_PREFIX = 'ttr_'
export const API_TOKEN_PREFIX = 'tth_'

export function newRefreshToken(): {token: string; hash: string} {
  const token = `${REFRESH_PREFIX}${randomBytes(32).toString('base64url')}`
  return {token, hash: sha256Hex(token)}
}

/** "tth_<id>_<secret>": the id finds the row, the hash of the whole string proves the secret. */
export function newApiToken(id: string): {token: string; hash: string} {
  const token = `${API_TOKEN_PREFIX}${id}_${randomBytes(32).toString('base64url')}`
  return {token, hash: sha256Hex(token)}
}

export function parseApiTokenId(token: string): string | null {
  const match = /^tth_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/.exec(token)
  return match ? match[1] : null
}
