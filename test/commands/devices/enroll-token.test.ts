import {strict as assert} from 'node:assert'
import {commandFailure as failure, useCleanCommandEnv} from '../../client/command-env.js'

describe('tether devices enroll-token / revoke (no server)', () => {
  useCleanCommandEnv()

  it('enroll-token names a bad --ttl before calling anything: exit 2', async () => {
    const tooShort = await failure(['devices', 'enroll-token', '--serial', 'S', '--model', 'M', '--customer', 'c', '--ttl', '1m'])
    assert.equal(tooShort.exitCode, 2)
    assert.match(tooShort.message, /--ttl/)
    const bad = await failure(['devices', 'enroll-token', '--serial', 'S', '--model', 'M', '--customer', 'c', '--ttl', 'soon'])
    assert.equal(bad.exitCode, 2)
  })

  it('enroll-token and revoke need a session: exit 3', async () => {
    assert.equal((await failure(['devices', 'enroll-token', '--serial', 'S', '--model', 'M', '--customer', 'c'])).exitCode, 3)
    assert.equal((await failure(['devices', 'revoke', 'S'])).exitCode, 3)
  })
})
