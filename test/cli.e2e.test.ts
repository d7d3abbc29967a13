import {strict as assert} from 'node:assert'
import {runTether} from './helpers/cli.js'

describe('tether binary', () => {
  it('shows help with examples and exits 0', async () => {
    const r = await runTether(['--help'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /USAGE/)
    assert.match(r.stdout, /COMMANDS|TOPICS/)
  })

  it('rejects an unknown flag with the usage exit code and no stack trace', async () => {
    const r = await runTether(['version', '--nope'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /Nonexistent flag: --nope/)
    assert.doesNotMatch(r.stderr, /\n\s+at /)
  })

  it('prints errors as JSON under --json', async () => {
    const r = await runTether(['version', '--json', '--nope'])
    assert.equal(r.code, 2)
    const doc = JSON.parse(r.stdout)
    assert.equal(doc.error.code, 'USAGE')
  })
})
