import {strict as assert} from 'node:assert'
import {parseLabels, parseScope, parseTime, scopeText} from '../../src/client/cli-input.js'

describe('CLI input parsing', () => {
  it('parses scopes', () => {
    assert.deepEqual(parseScope(['acme', 'st-mary/icu'], false), {all: false, entries: [{customer: 'acme'}, {customer: 'st-mary', site: 'icu'}]})
    assert.deepEqual(parseScope(undefined, true), {all: true, entries: []})
    assert.throws(() => parseScope(['Acme'], false), /--customer: "Acme"/)
    assert.throws(() => parseScope(['a/b/c'], false), /CUSTOMER\/SITE/)
    assert.equal(scopeText({all: false, entries: [{customer: 'a', site: null}, {customer: 'b', site: 'c'}]}), 'a, b/c')
  })

  it('parses labels', () => {
    assert.deepEqual(parseLabels(['room=3', 'note=a=b']), {room: '3', note: 'a=b'})
    assert.throws(() => parseLabels(['=x']), /--label: "=x" is not KEY=VALUE/)
  })

  it('parses times and durations back from now', () => {
    const now = Date.parse('2026-03-01T12:00:00Z')
    assert.equal(parseTime('24h', '--since', now), '2026-02-28T12:00:00.000Z')
    assert.equal(parseTime('2026-01-31', '--since', now), '2026-01-31T00:00:00.000Z')
    assert.equal(parseTime(undefined, '--since', now), undefined)
    assert.throws(() => parseTime('yesterday', '--until', now), /--until: "yesterday" is not a time/)
  })
})
