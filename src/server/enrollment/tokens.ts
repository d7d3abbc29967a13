import {createHash, randomBytes} from 'node:crypto'
import {encodeEnrollToken} from '../../protocol/agent/enroll.js'

/** A one-time token for this serial: recognisable in logs, unguessable (32 random bytes). */
export function newEnrollToken(serial: string): string {
  return encodeEnrollToken(serial, randomBytes(32).toString('base64url'))
}

/** Only this digest is stored: a database leak reveals no usable token. */
export function hashEnrollToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
