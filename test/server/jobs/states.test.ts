import {strict as assert} from 'node:assert'
import {JobStatus} from '../../../src/protocol/agent/jobs.js'
import {isFinal, JOB_TRANSITIONS, moveJob, statusesBefore} from '../../../src/server/jobs/states.js'
import {buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'

describe('job state transitions', () => {
  it('lists every status, and final statuses lead nowhere', () => {
    assert.deepEqual(Object.keys(JOB_TRANSITIONS).sort(), [...JobStatus.options].sort())
    assert.deepEqual(JobStatus.options.filter(isFinal).sort(), ['cancelled', 'expired', 'failed', 'refused', 'succeeded'])
  })

  it('derives where a move may start from', () => {
    assert.deepEqual(statusesBefore('expired'), ['queued', 'sent'])
    assert.deepEqual(statusesBefore('sent'), ['queued', 'sent'])
    assert.deepEqual(statusesBefore('cancelled'), ['queued', 'sent', 'running'])
    assert.deepEqual(statusesBefore('queued'), [])
  })

  describe('moveJob on a real database', () => {
    let t: TestApp
    before(async () => {
      t = await buildTestApp('sqlite')
      await seedUser(t.app, {username: 'root', role: 'admin'})
      const token = (await sessionFor(t.app, 'root')).accessToken
      assert.equal((await call(t.app, 'POST', '/customers', {token, body: {id: 'acme', name: 'acme'}})).statusCode, 201)
      assert.equal((await call(t.app, 'POST', '/devices', {token, body: {serial: 'SN-1', model: 'A', customer: 'acme'}})).statusCode, 201)
    })
    after(async () => t?.close())

    const insert = async (id: string, status: JobStatus) =>
      t.app.db
        .insertInto('jobs')
        .values({id, serial: 'SN-1', customer_id: 'acme', kind: 'diagnostic', params: '{}', status, requested_by: 'root', created_at: '2026-01-01T00:00:00.000Z', deadline: '2099-01-01T00:00:00.000Z', sent_at: null, started_at: null, finished_at: null, progress: null, result: null, error: null})
        .execute()
    const statusOf = async (id: string) => (await t.app.db.selectFrom('jobs').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status

    it('moves along the table and never out of a final status', async () => {
      await insert('j-run', 'sent')
      assert.equal(await moveJob(t.app.db, 'j-run', 'running'), true)
      assert.equal(await moveJob(t.app.db, 'j-run', 'expired'), false, 'a running job does not expire (the device has it)')
      assert.equal(await moveJob(t.app.db, 'j-run', 'cancelled', {finished_at: '2026-01-02T00:00:00.000Z'}), true)
      assert.equal(await moveJob(t.app.db, 'j-run', 'succeeded'), false, 'a late success does not undo a cancel')
      assert.equal(await statusOf('j-run'), 'cancelled')
    })
  })
})
