import {strict as assert} from 'node:assert'
import {commandFailure as failure, useCleanCommandEnv} from '../../client/command-env.js'

describe('tether devices (no server)', () => {
  useCleanCommandEnv()

  it('list needs a session: exit 3', async () => {
    assert.equal((await failure(['devices', 'list'])).exitCode, 3)
  })

  it('add names a bad --label', async () => {
    const e = await failure(['devices', 'add', '--serial', 'S', '--model', 'M', '--customer', 'c', '--label', 'nokey'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /--label/)
  })
})
