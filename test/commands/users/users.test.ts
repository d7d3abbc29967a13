import {strict as assert} from 'node:assert'
import {commandFailure as failure, useCleanCommandEnv} from '../../client/command-env.js'

describe('tether users (no server)', () => {
  useCleanCommandEnv()

  it('needs a session: exit 3', async () => {
    assert.equal((await failure(['users', 'list'])).exitCode, 3)
  })

  it('set-scope needs --customer or --all', async () => {
    const e = await failure(['users', 'set-scope', 'alice'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /--customer .* or --all/)
  })

  it('set-scope names a bad --customer', async () => {
    const e = await failure(['users', 'set-scope', 'alice', '--customer', 'Bad/x/y'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /^--customer: /)
  })

  it('add rejects an unknown role', async () => {
    assert.equal((await failure(['users', 'add', '--username', 'a', '--role', 'root'])).exitCode, 2)
  })
})
