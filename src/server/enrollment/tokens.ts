import {createHash, randomBytes} from 'node:crypto'

/** "tet_enr_" + 32 random bytes (base64url): recognisable in logs, unguessable. */
export const ENROLL_TOKEN_PREFIX = 'tet_enr_'

export function newEnrollToken(): string {
  return ENROLL_TOKEN_PREFIX + randomBytes(32).toString('base64url')
}

/** Only this digest is stored: a database leak reveals no usable token. */
export function hashEnrollToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
