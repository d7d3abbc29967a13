import {strict as assert} from 'node:assert'
import {prettyLine} from '../../src/server/pretty-log.js'

describe('server logs on a terminal', () => {
  const plain = process.stdout // colour is off: NO_COLOR below
  let saved: string | undefined
  before(() => {
    saved = process.env.NO_COLOR
    process.env.NO_COLOR = '1'
  })
  after(() => {
    if (saved === undefined) delete process.env.NO_COLOR
    else process.env.NO_COLOR = saved
  })

  it('turns a pino JSON line into time, level, message and the other fields', () => {
    const time = Date.UTC(2026, 10, 29, 21, 4, 5)
    const line = JSON.stringify({level: 40, time, pid: 1, hostname: 'vm', reqId: 'req-1', msg: 'slow request', url: '/api/v1/devices', ms: 812})
    const local = new Date(time).toTimeString().slice(0, 8)
    assert.equal(prettyLine(line, plain), `${local} WARN  slow request url=/api/v1/devices ms=812`)
  })

  it('shows a line that is not JSON as it came', () => {
    assert.equal(prettyLine('plain text', plain), 'plain text')
  })
})
