import {strict as assert} from 'node:assert'
import {RttTracker} from '../../src/checks/scheduler.js'
import {probeTcp} from '../../src/checks/tcp-probe.js'
import {closedPort, listenTcp} from './fixtures/servers.js'

// Filtered and unreachable need a DROP/REJECT rule: see test/commands/check/ports.e2e.test.ts (netns).
describe('tcp probe', () => {
  it('recognises an open port and times the connect', async () => {
    const l = await listenTcp('127.0.0.1')
    try {
      const {result, socket} = await probeTcp('127.0.0.1', l.port, {tracker: new RttTracker(2000)})
      assert.equal(result.status, 'open')
      assert.equal(socket, undefined)
      assert.ok(result.ms !== null && result.ms >= 0 && result.ms < 2000)
    } finally {
      await l.close()
    }
  })

  it('hands over the socket when asked (for TLS)', async () => {
    const l = await listenTcp('127.0.0.1')
    try {
      const {result, socket} = await probeTcp('127.0.0.1', l.port, {tracker: new RttTracker(2000), keepSocket: true})
      assert.equal(result.status, 'open')
      assert.ok(socket && !socket.destroyed)
      socket.destroy()
    } finally {
      await l.close()
    }
  })

  it('recognises a closed port (refused) and feeds the RTT to the tracker', async () => {
    const port = await closedPort('127.0.0.1')
    const tracker = new RttTracker(2000)
    const {result} = await probeTcp('127.0.0.1', port, {tracker})
    assert.equal(result.status, 'closed')
    assert.ok(tracker.waitFor('127.0.0.1') < 2000, 'an answer shortens the wait')
  })
})
