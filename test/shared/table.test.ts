import {strict as assert} from 'node:assert'
import {fitWidths, renderTable} from '../../src/shared/table.js'

const HEAD = ['Seq', 'Action', 'Details']
const ROWS = [
  [1, 'access.set', 'mode=allow until=2026-11-29T22:00:00.000Z by=local-operator reason="on-site visit for the yearly calibration"'],
  [2, 'tunnel.open', 'port=22 requestedBy=alice'],
]

describe('renderTable (the one table module)', () => {
  it('fits the given width: every line, every cell still complete', () => {
    for (const width of [40, 60, 80]) {
      const text = renderTable(HEAD, ROWS, {width})
      for (const line of text.split('\n')) assert.ok(line.length <= width, `${line.length} > ${width}: ${line}`)
      const joined = text.replace(/[│\s]/g, '')
      assert.ok(joined.includes('reason="on-sitevisitfortheyearlycalibration"'), 'the long cell is wrapped, not cut')
    }
  })

  it('leaves a table that fits as it is', () => {
    assert.equal(fitWidths([['a', 'b']], 80), undefined)
    assert.equal(renderTable(['A'], [['x']], {width: 80}), renderTable(['A'], [['x']]))
  })

  it('--columns picks and orders columns by header name', () => {
    const csv = renderTable(HEAD, ROWS, {columns: 'action, seq', csv: true})
    assert.equal(csv, 'Action,Seq\naccess.set,1\ntunnel.open,2')
  })

  it('--columns names an unknown column and lists the real ones', () => {
    assert.throws(() => renderTable(HEAD, ROWS, {columns: 'seq,when'}), {message: '--columns: no column "when" (columns: seq, action, details)'})
  })

  it('--csv quotes what needs it; --no-header drops the header row', () => {
    const csv = renderTable(['Name', 'Note'], [['St. Mary\'s', 'a, "b"']], {csv: true, noHeader: true})
    assert.equal(csv, 'St. Mary\'s,"a, ""b"""')
    const table = renderTable(['Name'], [['acme']], {noHeader: true})
    assert.doesNotMatch(table, /Name/)
    assert.match(table, /acme/)
  })
})
