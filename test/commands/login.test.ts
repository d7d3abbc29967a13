import {strict as assert} from 'node:assert'
import {join} from 'node:path'
import {commandFailure as failure, useCleanCommandEnv} from '../client/command-env.js'

describe('tether login / whoami / logout (no server)', () => {
  const dir = useCleanCommandEnv()

  it('whoami without a session: exit 3 "not logged in"', async () => {
    const e = await failure(['whoami'])
    assert.equal(e.exitCode, 3)
    assert.match(e.message, /not logged in/)
  })

  it('logout without a session: exit 3', async () => {
    assert.equal((await failure(['logout'])).exitCode, 3)
  })

  it('login refuses plain http', async () => {
    const e = await failure(['login', '--server', 'http://127.0.0.1:1', '--username', 'a'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /HTTPS only/)
  })

  it('login refuses --ca together with --fingerprint', async () => {
    assert.equal((await failure(['login', '--server', 'https://127.0.0.1:1', '--ca', 'x', '--fingerprint', 'y'])).exitCode, 2)
  })

  it('login names a bad --fingerprint', async () => {
    const e = await failure(['login', '--server', 'https://127.0.0.1:1', '--fingerprint', 'abc'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /^--fingerprint: /)
  })

  it('login names an unreadable --ca', async () => {
    const e = await failure(['login', '--server', 'https://127.0.0.1:1', '--ca', join(dir(), 'missing.pem')])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /^--ca: cannot read/)
  })
})
