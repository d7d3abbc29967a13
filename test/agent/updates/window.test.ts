import {strict as assert} from 'node:assert'
import {isInWindow, nextWindowOpen, parseWindow} from '../../../src/agent/updates/window.js'
import {AgentConfig} from '../../../src/agent/data-dir.js'

const at = (iso: string) => Date.parse(iso)

describe('updates.window', () => {
  it('parses days, lists, ranges (also across the week end), daily, and the zone (default UTC)', () => {
    const days = (text: string) => [...parseWindow(text).days].sort()
    assert.deepEqual(days('Sat 02:00-06:00 Europe/Berlin'), [6])
    assert.deepEqual(days('Mon-Fri 22:00-23:00'), [1, 2, 3, 4, 5])
    assert.deepEqual(days('Sat,Sun 01:00-02:00'), [0, 6])
    assert.deepEqual(days('Fri-Mon 01:00-02:00'), [0, 1, 5, 6])
    assert.deepEqual(days('daily 01:00-02:00'), [0, 1, 2, 3, 4, 5, 6])
    assert.deepEqual(days('saturday 01:00-02:00'), [6])
    assert.equal(parseWindow('Sat 02:00-06:00').zone, 'UTC')
    assert.deepEqual([parseWindow('Sat 22:00-24:00').startMinute, parseWindow('Sat 22:00-24:00').endMinute], [1320, 1440])
  })

  for (const [text, why] of [
    ['Sat', /DAYS HH:MM-HH:MM/],
    ['Caturday 02:00-06:00', /not a day/],
    ['Sat 2-6', /not a time range/],
    ['Sat 25:00-26:00', /not HH:MM/],
    ['Sat 02:00-02:00', /empty/],
    ['Sat 02:00-06:00 Mars/Olympus', /not a time zone/],
  ] as const) {
    it(`refuses "${text}" saying why`, () => assert.throws(() => parseWindow(text), why))
  }

  it('is refused by the agent.json schema (so `tether agent config set updates.window` refuses it), naming the field', () => {
    const result = AgentConfig.safeParse({version: 1, server: 'https://x.example', serial: 'S', updates: {window: 'Sat 2-6'}})
    assert.equal(result.success, false)
    assert.deepEqual(result.error?.issues[0].path, ['updates', 'window'])
  })

  it('uses the zone\'s wall clock: Sat 02:00 Berlin is 01:00Z in winter, 00:00Z in summer', () => {
    const w = parseWindow('Sat 02:00-06:00 Europe/Berlin')
    assert.equal(isInWindow(w, at('2026-01-03T00:59:00Z')), false)
    assert.equal(isInWindow(w, at('2026-01-03T01:00:00Z')), true)
    assert.equal(isInWindow(w, at('2026-01-03T04:59:00Z')), true)
    assert.equal(isInWindow(w, at('2026-01-03T05:00:00Z')), false)
    assert.equal(isInWindow(w, at('2026-07-04T00:00:00Z')), true)
    assert.equal(nextWindowOpen(w, at('2026-01-02T12:00:00Z')), at('2026-01-03T01:00:00Z'))
    assert.equal(nextWindowOpen(w, at('2026-07-01T12:00:00Z')), at('2026-07-04T00:00:00Z'))
    assert.equal(nextWindowOpen(w, at('2026-01-03T02:00:00Z')), at('2026-01-03T02:00:00Z'), 'inside: now')
  })

  it('across the DST change: the window of the night clocks go forward opens at the new offset', () => {
    // Europe/Berlin springs forward on Sun 2026-03-29 at 02:00 CET → 03:00 CEST.
    const w = parseWindow('Sun 01:00-05:00 Europe/Berlin')
    assert.equal(nextWindowOpen(w, at('2026-03-28T12:00:00Z')), at('2026-03-29T00:00:00Z'))
    assert.equal(isInWindow(w, at('2026-03-29T02:59:00Z')), true, '04:59 CEST')
    assert.equal(isInWindow(w, at('2026-03-29T03:00:00Z')), false, '05:00 CEST: the window is 3 real hours that night')
  })

  it('a start that does not exist that day (02:30 on spring-forward night) opens at the first existing minute inside the window', () => {
    const w = parseWindow('Sun 02:30-04:00 Europe/Berlin')
    // 02:30 local never happens on 2026-03-29; 03:00 CEST (01:00Z) is inside the window.
    assert.equal(nextWindowOpen(w, at('2026-03-28T12:00:00Z')), at('2026-03-29T01:00:00Z'))
  })

  it('a window across midnight belongs to the day it starts on (Fri 22:00-04:00 is Friday night)', () => {
    const w = parseWindow('Fri 22:00-04:00 UTC')
    assert.equal(isInWindow(w, at('2026-01-02T23:00:00Z')), true) // Fri 23:00
    assert.equal(isInWindow(w, at('2026-01-03T03:59:00Z')), true) // Sat 03:59
    assert.equal(isInWindow(w, at('2026-01-03T04:00:00Z')), false)
    assert.equal(isInWindow(w, at('2026-01-02T03:00:00Z')), false) // Fri 03:00 belongs to Thursday night
  })
})
