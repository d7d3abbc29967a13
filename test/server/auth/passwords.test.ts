import {strict as assert} from 'node:assert'
import {scryptSync} from 'node:crypto'
import {assertPasswordStrength, hashPassword, verifyPassword} from '../../../src/server/auth/passwords.js'
import {UsageError} from '../../../src/shared/errors.js'

describe('server/auth/passwords', () => {
  it('hashes with scrypt and its parameters, a fresh salt each time, and verifies', async () => {
    const a = await hashPassword('correct horse 42')
    const b = await hashPassword('correct horse 42')
    assert.match(a, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/)
    assert.notEqual(a, b)
    assert.equal(await verifyPassword('correct horse 42', a), true)
    assert.equal(await verifyPassword('correct horse 43', a), false)
  })

  it('reads the parameters from the stored string', async () => {
    const salt = Buffer.from('0123456789abcdef')
    const hash = scryptSync('pw-with-old-params1', salt, 32, {N: 1024, r: 8, p: 1})
    const stored = `scrypt$1024$8$1$${salt.toString('base64')}$${hash.toString('base64')}`
    assert.equal(await verifyPassword('pw-with-old-params1', stored), true)
    assert.equal(await verifyPassword('pw-with-old-params2', stored), false)
  })

  it('treats malformed or abusive stored strings as a mismatch', async () => {
    const bad = ['', 'plain', 'scrypt$3$8$1$YWJj$YWJjZGVmZ2hpamtsbW5vcA==', `scrypt$${2 ** 30}$8$1$YWJj$YWJjZGVmZ2hpamtsbW5vcA==`, 'bcrypt$1$2$3$4$5']
    for (const stored of bad) assert.equal(await verifyPassword('whatever-password', stored), false, stored)
  })

  it('enforces the strength rule and names the field', () => {
    for (const pw of ['short1A', 'aaaaaaaaaaaaaaaa', 'alllowercaseletters', '123456789012345']) {
      assert.throws(() => assertPasswordStrength(pw, 'body.password'), (e: unknown) => e instanceof UsageError && /^body\.password: /.test(e.message), pw)
    }
    assert.throws(() => assertPasswordStrength('Alice.Example', 'body.password', 'alice.example'), /username/)
    assert.doesNotThrow(() => assertPasswordStrength('correct horse 42', 'body.password', 'alice'))
    assert.doesNotThrow(() => assertPasswordStrength('Longenoughpassword', 'body.password'))
  })
})
