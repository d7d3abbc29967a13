import {randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions} from 'node:crypto'
import {UsageError} from '../../shared/errors.js'

/**
 * Password hashing with scrypt (node:crypto, no native add-on). The stored form carries its own
 * parameters so they can be raised later without breaking existing hashes:
 *   scrypt$<N>$<r>$<p>$<saltB64>$<hashB64>
 */
const N = 2 ** 15
const R = 8
const P = 1
const KEY_LENGTH = 32
const SALT_LENGTH = 16
/** Upper bounds accepted from a stored string, so a tampered row cannot make us burn memory. */
const MAX_N = 2 ** 20
const MAX_R = 32
const MAX_P = 16

export const MIN_PASSWORD_LENGTH = 12
export const MAX_PASSWORD_LENGTH = 1024

function scrypt(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFC'), salt, keyLength, options, (error, key) => {
      if (error) reject(error)
      else resolve(key)
    })
  })
}

/** scrypt needs 128*N*r bytes; leave headroom over Node's 32 MiB default. */
function maxmemFor(n: number, r: number): number {
  return 128 * n * r * 2 + 1024 * 1024
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_LENGTH)
  const hash = await scrypt(password, salt, KEY_LENGTH, {N, r: R, p: P, maxmem: maxmemFor(N, R)})
  return ['scrypt', N, R, P, salt.toString('base64'), hash.toString('base64')].join('$')
}

interface ParsedHash {
  n: number
  r: number
  p: number
  salt: Buffer
  hash: Buffer
}

function parseStored(stored: string): ParsedHash | null {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null
  const [n, r, p] = parts.slice(1, 4).map((s) => (/^\d+$/.test(s) ? Number(s) : Number.NaN))
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(r) || !Number.isSafeInteger(p)) return null
  // N must be a power of two above 1 (scrypt's own rule).
  if (n < 2 || n > MAX_N || (n & (n - 1)) !== 0 || r < 1 || r > MAX_R || p < 1 || p > MAX_P) return null
  const salt = Buffer.from(parts[4], 'base64')
  const hash = Buffer.from(parts[5], 'base64')
  if (salt.length === 0 || hash.length < 16) return null
  return {n, r, p, salt, hash}
}

/**
 * True when the password matches. A malformed stored string verifies as false (never throws), so
 * a broken row behaves like a wrong password instead of a 500 that reveals the user exists.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseStored(stored)
  if (!parsed) return false
  const {n, r, p, salt, hash} = parsed
  const candidate = await scrypt(password, salt, hash.length, {N: n, r, p, maxmem: maxmemFor(n, r)})
  return timingSafeEqual(candidate, hash)
}

/** A hash of a random password: verify against it for unknown users so timing does not reveal them. */
let dummyHash: Promise<string> | undefined
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(24).toString('base64'))
  return dummyHash
}

/**
 * The password rule (README and docs/rbac.md repeat it):
 * - at least 12 characters (at most 1024),
 * - at least two character classes among lower case, upper case, digits and other characters,
 * - not a single repeated character,
 * - not equal to the username (case-insensitive), when one is given.
 * Length matters more than composition (NIST SP 800-63B); the class rule only stops the
 * trivially weak "aaaaaaaaaaaa" / "111111111111" kind.
 */
export function assertPasswordStrength(password: string, field: string, username?: string): void {
  const fail = (why: string): never => {
    throw new UsageError(`${field}: ${why}`, {code: 'WEAK_PASSWORD', details: {field}})
  }

  const length = [...password].length
  if (length < MIN_PASSWORD_LENGTH) fail(`password must be at least ${MIN_PASSWORD_LENGTH} characters`)
  if (length > MAX_PASSWORD_LENGTH) fail(`password must be at most ${MAX_PASSWORD_LENGTH} characters`)
  if (new Set(password).size === 1) fail('password must not be one repeated character')
  const classes = [/[a-z]/, /[A-Z]/, /\d/, /[^a-zA-Z\d]/].filter((re) => re.test(password)).length
  if (classes < 2) fail('password must mix at least two of: lower case, upper case, digits, other characters')
  if (username && password.toLowerCase() === username.toLowerCase()) fail('password must not equal the username')
}
