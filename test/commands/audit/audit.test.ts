import {strict as assert} from 'node:assert'
import {commandFailure as failure, useCleanCommandEnv} from '../../client/command-env.js'

describe('tether audit (no server)', () => {
  useCleanCommandEnv()

  it('export --json needs --output', async () => {
    const e = await failure(['audit', 'export'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /--output/)
  })

  it('export names a bad --since', async () => {
    const e = await failure(['audit', 'export', '--since', 'lastweek', '-o', 'x.jsonl'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /^--since: /)
  })

  it('verify needs a session: exit 3', async () => {
    assert.equal((await failure(['audit', 'verify'])).exitCode, 3)
  })
})
