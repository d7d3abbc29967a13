import {strict as assert} from 'node:assert'
import {newTunnelId} from '../../../src/server/tunnels/live.js'

describe('tunnel ids', () => {
  it('are 12 URL-safe characters that never start with "-" or "_" (a CLI argument, not a flag)', () => {
    const ids = Array.from({length: 5000}, () => newTunnelId())
    for (const id of ids) assert.match(id, /^[A-Za-z0-9][A-Za-z0-9_-]{11}$/)
    assert.equal(new Set(ids).size, ids.length)
  })
})
