import {strict as assert} from 'node:assert'
import {commandFailure as failure, useCleanCommandEnv} from '../client/command-env.js'

describe('tether passwd and users reset-password (no server)', () => {
  useCleanCommandEnv()

  it('passwd without a terminal needs the password files or --password-stdin: exit 2', async () => {
    const e = await failure(['passwd'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /--current-password-file and --new-password-file, or --password-stdin/)
  })

  it('passwd names an unreadable --current-password-file: exit 2', async () => {
    const e = await failure(['passwd', '--current-password-file', '/nonexistent/old.pw', '--new-password-file', '/nonexistent/new.pw'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /^--current-password-file: cannot read \/nonexistent\/old.pw/)
  })

  it('users reset-password needs a session: exit 3', async () => {
    assert.equal((await failure(['users', 'reset-password', 'alice'])).exitCode, 3)
  })

  it('users reset-password names an unreadable --password-file: exit 2', async () => {
    const e = await failure(['users', 'reset-password', 'alice', '--password-file', '/nonexistent/pw'])
    assert.equal(e.exitCode, 2)
    assert.match(e.message, /^--password-file: cannot read/)
  })
})
