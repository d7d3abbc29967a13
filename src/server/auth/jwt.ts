import {randomBytes, randomUUID} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {SignJWT, jwtVerify, errors as joseErrors} from 'jose'
import {AuthError, UsageError} from '../../shared/errors.js'

/**
 * Access tokens: short-lived HS256 JWTs. The secret file is shared by every server node; its
 * content (trimmed) is the key, at least 32 bytes. `tether server init` writes it with
 * generateJwtSecret(); tests can pass the secret to the auth plugin instead.
 */
export const MIN_JWT_SECRET_BYTES = 32
const ISSUER = 'tether'
const AUDIENCE = 'tether-admin-api'

/** Text for a new secret file (write it 0600 with writeFileAtomic). */
export function generateJwtSecret(): string {
  return `${randomBytes(48).toString('base64url')}\n`
}

export function jwtKey(secret: string | Uint8Array): Uint8Array {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret.trim()) : secret
  if (key.length < MIN_JWT_SECRET_BYTES) throw new UsageError(`the access-token secret must be at least ${MIN_JWT_SECRET_BYTES} bytes`)
  return key
}

export async function loadJwtSecret(file: string): Promise<Uint8Array> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read the access-token secret ${file}: ${(error as Error).message}`, {
      cause: error,
      suggestions: ['run `tether server init` to create it'],
    })
  }
  return jwtKey(text)
}

export interface AccessClaims {
  sub: string
  epoch: number
  jti: string
  /** Set on sessions limited to MFA enrolment. */
  mfaEnroll: boolean
  /** Set on SSO sessions whose ID token showed MFA: Tether's own TOTP is then not needed. */
  idpMfa?: boolean
}

export async function signAccessToken(key: Uint8Array, claims: Omit<AccessClaims, 'jti'>, ttlSeconds: number): Promise<string> {
  const body: Record<string, unknown> = {epoch: claims.epoch}
  if (claims.mfaEnroll) body.mfa_enroll = true
  if (claims.idpMfa) body.idp_mfa = true
  return new SignJWT(body)
    .setProtectedHeader({alg: 'HS256', typ: 'JWT'})
    .setSubject(claims.sub)
    .setJti(randomUUID())
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(key)
}

/** Verifies signature, algorithm, issuer, audience and expiry; any failure is a 401. */
export async function verifyAccessToken(key: Uint8Array, token: string): Promise<AccessClaims> {
  try {
    const {payload} = await jwtVerify(token, key, {algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE})
    if (typeof payload.sub !== 'string' || typeof payload.epoch !== 'number' || typeof payload.jti !== 'string') {
      throw new AuthError('access token is malformed')
    }
    return {sub: payload.sub, epoch: payload.epoch, jti: payload.jti, mfaEnroll: payload.mfa_enroll === true, idpMfa: payload.idp_mfa === true}
  } catch (error) {
    if (error instanceof AuthError) throw error
    if (error instanceof joseErrors.JWTExpired) throw new AuthError('access token expired; refresh it or log in again', {cause: error})
    throw new AuthError('access token is invalid', {cause: error})
  }
}
