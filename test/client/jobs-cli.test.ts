import {strict as assert} from 'node:assert'
import type {Job} from '../../src/client/jobs-api.js'
import {jobFields, jobKindLabel, jobKindOf, jobsTable} from '../../src/client/jobs-cli.js'

const job: Job = {
  id: 'j1',
  serial: 'SN-1',
  customer: 'acme',
  kind: 'diagnostic',
  params: {name: 'system-info'},
  status: 'succeeded',
  requestedBy: 'alice',
  createdAt: '2026-11-29T10:00:00.000Z',
  deadline: '2026-11-30T10:00:00.000Z',
  sentAt: null,
  startedAt: null,
  finishedAt: null,
  progress: null,
  result: null,
  error: null,
}

describe('job kinds in CLI output', () => {
  it('reads "diagnostics", as agent.json and --kind name it; the API value stays in JSON', () => {
    assert.equal(jobKindLabel('diagnostic'), 'diagnostics')
    assert.equal(jobKindLabel('logs'), 'logs')
    assert.equal(jobKindOf('diagnostics'), 'diagnostic')
    assert.equal(jobKindOf('logs'), 'logs')
    const csv = jobsTable([job], {columns: 'kind,what', csv: true, noHeader: true})
    assert.equal(csv, 'diagnostics,system-info')
    assert.match(jobFields(job), /^Kind\s+diagnostics$/m)
  })
})
