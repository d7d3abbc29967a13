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

  it('-h and -v work like --help and --version', async () => {
    const help = await runTether(['-h'])
    assert.equal(help.code, 0, help.stderr)
    assert.match(help.stdout, /USAGE/)
    const version = await runTether(['-v'])
    assert.equal(version.code, 0, version.stderr)
    assert.match(version.stdout, /^@tether-oss\/tether\/\d+\.\d+\.\d+ /)
  })

  it('suggests the closest command for a typo, also without a terminal', async () => {
    const r = await runTether(['custmers', 'list'])
    assert.equal(r.code, 127)
    assert.match(r.stderr, /^Did you mean: tether customers list$/m)
    assert.match(r.stderr, /custmers list is not a tether command/)
  })

  it('never shows oclif\'s "The following errors occurred:", in text or JSON', async () => {
    const text = await runTether(['login', '--server', 'https://127.0.0.1:1', '--ca', 'a.pem', '--fingerprint', 'AB'])
    assert.equal(text.code, 2)
    assert.equal(text.stderr.split('\n')[0], 'Error: --ca and --fingerprint cannot be used together')
    const json = await runTether(['login', '--server', 'https://127.0.0.1:1', '--ca', 'a.pem', '--fingerprint', 'AB', '--json'])
    assert.equal(JSON.parse(json.stdout).error.message, '--ca and --fingerprint cannot be used together')
    assert.doesNotMatch(text.stderr + json.stdout, /following error/i)
  })

  it('offers shell completion (@oclif/plugin-autocomplete)', async () => {
    const r = await runTether(['autocomplete', 'script', 'bash'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /tether/)
  })
})
