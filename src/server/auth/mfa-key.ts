import {createHash, randomBytes} from 'node:crypto'
import {mkdir} from 'node:fs/promises'
import {dirname} from 'node:path'
import {writeFileAtomic} from '../../shared/atomic-file.js'
import {UsageError} from '../../shared/errors.js'
import {readTextIfExists} from '../../shared/optional-file.js'

/**
 * The server key that seals TOTP secrets in users.mfa_secret (mfa-secret.ts). It is a file in
 * the data dir (auth.mfaKeyFile, default secrets/mfa.key: base64 of 32 bytes, 0600), never a
 * database value, so a database dump or backup alone does not give away anyone's second factor.
 * `tether server init` writes it; `server start` creates it for an older data dir without one
 * (mfa-startup.ts decides when that is safe).
 */
export interface MfaKey {
  /** First 16 hex of the key's SHA-256, like logs master keys: recorded in each sealed secret. */
  id: string
  key: Buffer
  /** Where it was read from, for error messages. */
  file: string
}

const KEY_BYTES = 32

export function mfaKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16)
}

/** Text for a new key file (write it 0600 with writeFileAtomic). */
export function generateMfaKey(): string {
  return encode(randomBytes(KEY_BYTES))
}

function encode(key: Buffer): string {
  return `${key.toString('base64')}\n`
}

/** The key in `file`, or null when the file does not exist; a malformed file is refused. */
export async function readMfaKey(file: string): Promise<MfaKey | null> {
  let text: string | null
  try {
    text = await readTextIfExists(file)
  } catch (error) {
    throw new UsageError(`cannot read the MFA key ${file}: ${(error as Error).message}`, {code: 'MFA_KEY', cause: error})
  }
  if (text === null) return null
  const key = Buffer.from(text.trim(), 'base64')
  if (key.length !== KEY_BYTES) {
    throw new UsageError(`${file}: an MFA key is base64 of exactly ${KEY_BYTES} bytes (got ${key.length})`, {code: 'MFA_KEY'})
  }
  return {id: mfaKeyId(key), key, file}
}

/** Writes a fresh key file (and its 0700 directory) atomically. */
export async function createMfaKey(file: string): Promise<MfaKey> {
  await mkdir(dirname(file), {recursive: true, mode: 0o700})
  const key = randomBytes(KEY_BYTES)
  await writeFileAtomic(file, encode(key), 0o600)
  return {id: mfaKeyId(key), key, file}
}
