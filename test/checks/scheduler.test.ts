import {strict as assert} from 'node:assert'
import {HOST_FLOOR_MS, HOST_MULTIPLIER, RUN_FLOOR_MS, RUN_MULTIPLIER, RttTracker, runBounded} from '../../src/checks/scheduler.js'

describe('scheduler', () => {
  describe('RttTracker (adaptive wait for unanswered SYNs)', () => {
    it('waits the full timeout until something answers', () => {
      const t = new RttTracker(3000)
      assert.equal(t.waitFor('127.0.0.1'), 3000)
    })

    it('derives the wait from the same address first, else from the run', () => {
      const t = new RttTracker(3000)
      t.record('10.0.0.1', 1)
      assert.equal(t.waitFor('10.0.0.1'), HOST_FLOOR_MS)
      assert.equal(t.waitFor('10.0.0.2'), RUN_FLOOR_MS)
      t.record('10.0.0.1', 120)
      assert.equal(t.waitFor('10.0.0.1'), HOST_MULTIPLIER * 120)
      assert.equal(t.waitFor('10.0.0.2'), Math.min(3000, RUN_MULTIPLIER * 120))
      t.record('10.0.0.3', 900)
      assert.equal(t.waitFor('10.0.0.2'), 3000, 'never above --timeout')
      assert.equal(t.waitFor('10.0.0.1'), HOST_MULTIPLIER * 120, 'the slow host does not stretch a fast one')
    })

    it('notifies pending probes when the waits change, and can be switched off', () => {
      const t = new RttTracker(3000)
      let calls = 0
      const off = t.subscribe(() => calls++)
      t.record('a', 5)
      t.record('a', 2)
      assert.equal(calls, 1)
      off()
      t.record('a', 50)
      assert.equal(calls, 1)
      const fixed = new RttTracker(3000, false)
      fixed.record('a', 1)
      assert.equal(fixed.waitFor('a'), 3000)
    })
  })

  it('runBounded keeps order and never exceeds the limit', async () => {
    let inFlight = 0
    let peak = 0
    const out = await runBounded([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await new Promise((r) => setTimeout(r, n * 3))
      inFlight--
      return n * 10
    })
    assert.deepEqual(out, [50, 10, 40, 20, 30, 0, 60])
    assert.equal(peak, 3)
  })
})
