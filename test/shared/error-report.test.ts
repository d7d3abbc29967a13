import {strict as assert} from 'node:assert'
import {reportFor} from '../../src/shared/error-report.js'
import {ExitCode, NotFoundError, UsageError} from '../../src/shared/errors.js'
import {parseDuration} from '../../src/shared/duration.js'

describe('error report', () => {
  it('keeps a typed error message, code and exit code', () => {
    const r = reportFor(new UsageError('--timeout: bad', {suggestions: ['use 2s']}))
    assert.equal(r.exitCode, ExitCode.USAGE)
    assert.equal(r.message, '--timeout: bad')
    assert.deepEqual(r.suggestions, ['use 2s'])
    assert.equal(reportFor(new NotFoundError('device X')).exitCode, ExitCode.NOT_FOUND)
  })

  it('maps oclif parse errors to their exit code without colour codes', () => {
    const err = Object.assign(new Error('\u001B[31mNonexistent flag: --nope\u001B[39m'), {oclif: {exit: 2}})
    const r = reportFor(err)
    assert.equal(r.exitCode, 2)
    assert.equal(r.message, 'Nonexistent flag: --nope')
  })

  it('never shows oclif\'s "The following errors occurred:" header, and says an exclusive pair once', () => {
    const text = 'The following errors occurred:\n  --ca=a cannot also be provided when using --fingerprint\n  --fingerprint=b cannot also be provided when using --ca\nSee more help with --help'
    const r = reportFor(Object.assign(new Error(text), {oclif: {exit: 2}}))
    assert.equal(r.message, '--ca and --fingerprint cannot be used together')
    assert.deepEqual(r.suggestions, ['See more help with --help.'])
    const two = reportFor(Object.assign(new Error('The following errors occurred:\n  Missing required flag serial\n  Missing required flag model'), {oclif: {exit: 2}}))
    assert.equal(two.message, 'Missing required flag serial; Missing required flag model')
  })

  it('names the path of a system error', () => {
    const err = Object.assign(new Error('ENOENT: x'), {code: 'ENOENT', path: '/nope/file.csv'})
    assert.equal(reportFor(err).message, '/nope/file.csv: no such file or directory')
  })

  it('treats anything else as an internal error with a --debug hint', () => {
    const r = reportFor(new TypeError('x is undefined'))
    assert.equal(r.exitCode, ExitCode.INTERNAL)
    assert.match(r.suggestions[0], /--debug/)
  })
})

describe('parseDuration', () => {
  it('parses single and compound units', () => {
    assert.equal(parseDuration('500ms'), 500)
    assert.equal(parseDuration('2s'), 2000)
    assert.equal(parseDuration('1h30m'), 5_400_000)
    assert.equal(parseDuration('7d'), 604_800_000)
  })

  it('names the flag when the value is bad', () => {
    assert.throws(() => parseDuration('soon', '--ttl'), (e: Error) => e instanceof UsageError && /--ttl: "soon"/.test(e.message))
    assert.throws(() => parseDuration('5', '--ttl'), UsageError)
    assert.throws(() => parseDuration('0s', '--ttl'), UsageError)
  })
})
