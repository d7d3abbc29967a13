import {strict as assert} from 'node:assert'
import {Backoff} from '../../src/agent/backoff.js'

describe('agent Backoff (full jitter)', () => {
  it('stays within [0, min(cap, base*2^attempt)) for every attempt', () => {
    const b = new Backoff({baseMs: 1000, capMs: 60_000})
    const windows = [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]
    for (const window of windows) {
      assert.equal(b.windowMs, window)
      const d = b.next()
      assert.ok(d >= 0 && d < window, `${d} outside [0, ${window})`)
    }
  })

  it('uses the whole window (random 0 → 0, random →1 → just under the window)', () => {
    const low = new Backoff({baseMs: 1000, capMs: 8000, random: () => 0})
    const high = new Backoff({baseMs: 1000, capMs: 8000, random: () => 0.999999})
    assert.deepEqual([low.next(), low.next(), low.next()], [0, 0, 0])
    assert.deepEqual([high.next(), high.next(), high.next(), high.next(), high.next()], [999, 1999, 3999, 7999, 7999])
  })

  it('never exceeds the cap, even after very many attempts', () => {
    const b = new Backoff({baseMs: 1000, capMs: 60_000, random: () => 0.999999})
    for (let i = 0; i < 10_000; i++) assert.ok(b.next() < 60_000)
    assert.equal(b.windowMs, 60_000)
  })

  it('reset() starts again from the base window', () => {
    const b = new Backoff({baseMs: 500, capMs: 10_000})
    for (let i = 0; i < 6; i++) b.next()
    assert.equal(b.windowMs, 10_000)
    b.reset()
    assert.equal(b.attempts, 0)
    assert.equal(b.windowMs, 500)
  })

  it('spreads a wave: 10,000 delays in a 60 s window are roughly uniform', () => {
    const buckets = new Array(10).fill(0)
    for (let i = 0; i < 10_000; i++) {
      const b = new Backoff({baseMs: 60_000, capMs: 60_000})
      buckets[Math.floor(b.next() / 6000)]++
    }
    for (const n of buckets) assert.ok(n > 800 && n < 1200, `bucket ${n} far from 1000`)
  })

  it('refuses nonsense settings', () => {
    assert.throws(() => new Backoff({baseMs: 0, capMs: 10}), RangeError)
    assert.throws(() => new Backoff({baseMs: 100, capMs: 10}), RangeError)
  })
})
