import {strict as assert} from 'node:assert'
import {commandFailure as failure, useCleanCommandEnv} from '../../client/command-env.js'

describe('tether tokens (no server)', () => {
  useCleanCommandEnv()

  it('create names a bad --ttl', async () => {
    const e = await failure(['tokens', 'create', '--name', 'x', '--ttl', 'forever'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /--ttl/)
  })

  it('create rejects an unknown --permission', async () => {
    assert.equal((await failure(['tokens', 'create', '--name', 'x', '--permission', 'root'])).exitCode, 2)
  })
})
