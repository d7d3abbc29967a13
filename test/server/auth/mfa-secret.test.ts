import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Secret} from 'otpauth'
import {createMfaKey, type MfaKey, readMfaKey} from '../../../src/server/auth/mfa-key.js'
import {describeStored, openTotpSecret, sealTotpSecret} from '../../../src/server/auth/mfa-secret.js'
import {TetherError} from '../../../src/shared/errors.js'

/** The refusal every unreadable secret gets: a generic message, the detail in the cause. */
function unreadable(detail: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof TetherError, String(error))
    assert.equal(error.code, 'MFA_KEY')
    assert.doesNotMatch(error.message, /user-|\.key|[0-9a-f]{16}/, 'the client message names no user, file or key')
    assert.match(String((error.cause as Error).message), detail)
    return true
  }
}

describe('server/auth/mfa-secret', () => {
  let dir: string
  let key: MfaKey
  let other: MfaKey
  const secret = new Secret({size: 20}).base32

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-mfa-'))
    key = await createMfaKey(join(dir, 'secrets', 'mfa.key'))
    other = await createMfaKey(join(dir, 'other.key'))
  })
  after(async () => rm(dir, {recursive: true, force: true}))

  it('creates a 0600 key file of 32 random bytes in a 0700 directory, and reads it back', async () => {
    assert.equal((await stat(key.file)).mode & 0o777, 0o600)
    assert.equal((await stat(join(dir, 'secrets'))).mode & 0o777, 0o700)
    assert.equal(Buffer.from((await readFile(key.file, 'utf8')).trim(), 'base64').length, 32)
    const again = await readMfaKey(key.file)
    assert.equal(again?.id, key.id)
    assert.match(key.id, /^[0-9a-f]{16}$/)
    assert.notEqual(other.id, key.id)
    assert.equal(await readMfaKey(join(dir, 'missing.key')), null)
  })

  it('refuses a malformed key file, naming it', async () => {
    await writeFile(join(dir, 'short.key'), Buffer.alloc(16).toString('base64'))
    await assert.rejects(readMfaKey(join(dir, 'short.key')), {code: 'MFA_KEY', message: /short\.key: an MFA key is base64 of exactly 32 bytes \(got 16\)/})
  })

  it('seals into v1:<keyId>:<iv>:<ciphertext+tag> with a fresh IV, never showing the secret', () => {
    const a = sealTotpSecret(key, 'user-1', secret)
    const b = sealTotpSecret(key, 'user-1', secret)
    assert.match(a, new RegExp(`^v1:${key.id}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$`))
    assert.notEqual(a, b, 'a fresh IV per secret')
    assert.notEqual(a.split(':')[2], b.split(':')[2])
    assert.ok(!a.includes(secret))
    assert.deepEqual(describeStored(a), {sealed: true, version: 'v1', keyId: key.id})
    assert.deepEqual(describeStored(secret), {sealed: false})
    assert.equal(openTotpSecret(key, 'user-1', a), secret)
    assert.equal(openTotpSecret(key, 'user-1', b), secret)
  })

  it('opens only for the user it was sealed for', () => {
    const sealed = sealTotpSecret(key, 'user-1', secret)
    assert.throws(() => openTotpSecret(key, 'user-2', sealed), unreadable(/user user-2 does not authenticate .*altered or copied from another user/))
  })

  it('opens only with the key that sealed it, and says which key that was', () => {
    const sealed = sealTotpSecret(key, 'user-1', secret)
    assert.throws(() => openTotpSecret(other, 'user-1', sealed), unreadable(new RegExp(`sealed with MFA key ${key.id}, but .*other\\.key is key ${other.id}`)))
    // Same key id, different material: a forged id does not help either.
    const impostor: MfaKey = {...other, id: key.id}
    assert.throws(() => openTotpSecret(impostor, 'user-1', sealed), unreadable(/does not authenticate/))
  })

  it('refuses altered ciphertext, IV or tag, a truncated value, plaintext and unknown formats', () => {
    const sealed = sealTotpSecret(key, 'user-1', secret)
    const [v, id, iv, body] = sealed.split(':')
    const flip = (text: string, at: number): string => {
      const bytes = Buffer.from(text, 'base64url')
      bytes[at] ^= 0x01
      return bytes.toString('base64url')
    }
    const cases = [
      [v, id, iv, flip(body, 0)],
      [v, id, iv, flip(body, Buffer.from(body, 'base64url').length - 1)],
      [v, id, flip(iv, 3), body],
      [v, id, iv, body.slice(0, 8)],
      [v, id, iv],
    ]
    for (const parts of cases) assert.throws(() => openTotpSecret(key, 'user-1', parts.join(':')), unreadable(/does not authenticate/), parts.join(':'))
    assert.throws(() => openTotpSecret(key, 'user-1', secret), unreadable(/is not sealed/))
    assert.throws(() => openTotpSecret(key, 'user-1', `v2:${key.id}:${iv}:${body}`), unreadable(/format v2/))
  })
})
