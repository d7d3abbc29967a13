import {strict as assert} from 'node:assert'
import type {JobMessage} from '../../../src/protocol/agent/jobs.js'
import {JobService, type JobSender} from '../../../src/server/jobs/service.js'
import {auditEvents, buildTestApp, call, seedUser, sessionFor, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

/** The hub as the job service sees it: a set of online serials and the jobs sent to them. */
class FakeSender implements JobSender {
  online = new Set<string>()
  sent: Array<{serial: string; job: JobMessage}> = []
  isOnline(serial: string): boolean {
    return this.online.has(serial)
  }
  sendJob(serial: string, job: JobMessage): boolean {
    if (!this.online.has(serial)) return false
    this.sent.push({serial, job})
    return true
  }
}

const device = async (t: TestApp, serial: string) => t.app.db.selectFrom('devices').selectAll().where('serial', '=', serial).executeTakeFirstOrThrow()

for (const kind of DB_KINDS) {
  describe(`jobs service and routes (${kind})`, () => {
    let t: TestApp
    let sender: FakeSender
    let jobs: JobService
    let root: string

    before(async () => {
      t = await buildTestApp(kind)
      await seedUser(t.app, {username: 'root', role: 'admin'})
      root = (await sessionFor(t.app, 'root')).accessToken
      for (const c of ['acme', 'other']) assert.equal((await call(t.app, 'POST', '/customers', {token: root, body: {id: c, name: c}})).statusCode, 201)
      for (const [serial, customer] of [['SN-1', 'acme'], ['SN-9', 'other']]) {
        assert.equal((await call(t.app, 'POST', '/devices', {token: root, body: {serial, model: 'A', customer}})).statusCode, 201)
      }
      await seedUser(t.app, {username: 'eng', role: 'service-engineer', scope: {all: false, entries: [{customer: 'acme'}]}})
      await seedUser(t.app, {username: 'spec', role: 'applications-specialist', scope: {all: true, entries: []}})
      await seedUser(t.app, {username: 'view', role: 'viewer', scope: {all: true, entries: []}})
    })
    beforeEach(() => {
      sender = new FakeSender()
      jobs = new JobService(t.app.db, t.app.audit, sender, t.app.log)
    })
    after(async () => t?.close())

    it('queues a job for an offline device and sends it when the device connects', async () => {
      const job = await jobs.create(await device(t, 'SN-1'), {kind: 'diagnostic', params: {name: 'memory'}, requestedBy: 'root', ttlSeconds: 60})
      assert.equal(job.status, 'queued')
      assert.equal(sender.sent.length, 0)
      sender.online.add('SN-1')
      assert.equal(await jobs.onConnected('SN-1'), 1)
      assert.deepEqual(sender.sent[0].job, {type: 'job', jobId: job.id, kind: 'diagnostic', params: {name: 'memory'}, deadline: job.deadline})
      const row = await t.app.db.selectFrom('jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow()
      assert.equal(row.status, 'sent')
      // Running, then succeeded: audited started/finished; later updates of a final job are ignored.
      await jobs.onUpdate({serial: 'SN-1', customerId: 'acme'}, {type: 'job-update', jobId: job.id, status: 'running', progress: {done: 1, total: 2}})
      await jobs.onUpdate({serial: 'SN-1', customerId: 'acme'}, {type: 'job-update', jobId: job.id, status: 'succeeded', result: {totalBytes: 42}})
      await jobs.onUpdate({serial: 'SN-1', customerId: 'acme'}, {type: 'job-update', jobId: job.id, status: 'failed'})
      const done = await t.app.db.selectFrom('jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow()
      assert.equal(done.status, 'succeeded')
      assert.deepEqual(JSON.parse(done.result ?? 'null'), {totalBytes: 42})
      assert.ok((await auditEvents(t.app, 'job.started')).some((e) => JSON.parse(e.details).jobId === job.id))
      const finished = (await auditEvents(t.app, 'job.finished')).filter((e) => JSON.parse(e.details).jobId === job.id)
      assert.equal(finished.length, 1)
      assert.equal(finished[0].outcome, 'success')
    })

    it('tells change listeners after each committed status change, not for a refused move', async () => {
      const seen: string[] = []
      jobs.onChange((job) => {
        seen.push(job.status)
      })
      jobs.onChange(() => {
        throw new Error('a broken listener is logged, not thrown at the device')
      })
      sender.online.add('SN-1')
      const job = await jobs.create(await device(t, 'SN-1'), {kind: 'diagnostic', params: {name: 'memory'}, requestedBy: 'root', ttlSeconds: 60})
      const from = {serial: 'SN-1', customerId: 'acme'}
      await jobs.onUpdate(from, {type: 'job-update', jobId: job.id, status: 'running'})
      await jobs.onUpdate(from, {type: 'job-update', jobId: job.id, status: 'failed', error: {code: 'FAILED', message: 'x'}})
      await jobs.onUpdate(from, {type: 'job-update', jobId: job.id, status: 'succeeded'})
      assert.deepEqual(seen, ['sent', 'running', 'failed'])
    })

    it('pushes at once to an online device; an update from another device is ignored', async () => {
      sender.online.add('SN-1')
      const job = await jobs.create(await device(t, 'SN-1'), {kind: 'logs', params: {}, requestedBy: 'root', ttlSeconds: 60})
      assert.equal(job.status, 'sent')
      await jobs.onUpdate({serial: 'SN-9', customerId: 'other'}, {type: 'job-update', jobId: job.id, status: 'succeeded'})
      assert.equal((await t.app.db.selectFrom('jobs').select('status').where('id', '=', job.id).executeTakeFirstOrThrow()).status, 'sent')
    })

    it('shows a finished job\'s progress as its outcome: complete when it succeeded, the last figure when it failed', async () => {
      sender.online.add('SN-1')
      const serial = {serial: 'SN-1', customerId: 'acme'}
      const progressOf = async (id: string) => (await call(t.app, 'GET', `/jobs/${id}`, {token: root})).json().progress
      // The agent's final update carries no progress, and live figures are dropped while it is offline.
      const ok = await jobs.create(await device(t, 'SN-1'), {kind: 'logs', params: {}, requestedBy: 'root', ttlSeconds: 60})
      await jobs.onUpdate(serial, {type: 'job-update', jobId: ok.id, status: 'running', progress: {done: 600, total: 1000}})
      assert.deepEqual(await progressOf(ok.id), {done: 600, total: 1000})
      await jobs.onUpdate(serial, {type: 'job-update', jobId: ok.id, status: 'succeeded', result: {bundleId: 'b', size: 1000, sha256: 'x'}})
      assert.deepEqual(await progressOf(ok.id), {done: 1000, total: 1000})
      const bad = await jobs.create(await device(t, 'SN-1'), {kind: 'logs', params: {}, requestedBy: 'root', ttlSeconds: 60})
      await jobs.onUpdate(serial, {type: 'job-update', jobId: bad.id, status: 'running', progress: {done: 600, total: 1000}})
      await jobs.onUpdate(serial, {type: 'job-update', jobId: bad.id, status: 'failed', error: {code: 'UPLOAD_STALLED', message: 'no progress'}})
      assert.deepEqual(await progressOf(bad.id), {done: 600, total: 1000})
      // Nothing measured (a diagnostic): nothing made up.
      const diag = await jobs.create(await device(t, 'SN-1'), {kind: 'diagnostic', params: {name: 'memory'}, requestedBy: 'root', ttlSeconds: 60})
      await jobs.onUpdate(serial, {type: 'job-update', jobId: diag.id, status: 'succeeded', result: {}})
      assert.equal(await progressOf(diag.id), null)
    })

    it('records a refusal (audited as denied)', async () => {
      sender.online.add('SN-1')
      const job = await jobs.create(await device(t, 'SN-1'), {kind: 'logs', params: {}, requestedBy: 'root', ttlSeconds: 60})
      await jobs.onUpdate({serial: 'SN-1', customerId: 'acme'}, {type: 'job-update', jobId: job.id, status: 'refused', error: {code: 'KIND_NOT_ALLOWED', message: 'logs are not allowed here'}})
      const row = await t.app.db.selectFrom('jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow()
      assert.equal(row.status, 'refused')
      const refused = (await auditEvents(t.app, 'job.refused')).filter((e) => JSON.parse(e.details).jobId === job.id)
      assert.equal(refused.length, 1)
      assert.equal(refused[0].outcome, 'denied')
    })

    it('expires a queued job whose deadline passed (sweep, and at push time)', async () => {
      const a = await jobs.create(await device(t, 'SN-1'), {kind: 'diagnostic', params: {name: 'memory'}, requestedBy: 'root', ttlSeconds: 1})
      const b = await jobs.create(await device(t, 'SN-1'), {kind: 'diagnostic', params: {name: 'uptime-load'}, requestedBy: 'root', ttlSeconds: 1})
      assert.ok((await jobs.expireDue(new Date(Date.now() + 5000))) >= 2)
      for (const id of [a.id, b.id]) assert.equal((await t.app.db.selectFrom('jobs').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status, 'expired')
      const c = await jobs.create(await device(t, 'SN-1'), {kind: 'diagnostic', params: {name: 'memory'}, requestedBy: 'root', ttlSeconds: 1})
      await t.app.db.updateTable('jobs').set({deadline: '2020-01-01T00:00:00.000Z'}).where('id', '=', c.id).execute()
      sender.online.add('SN-1')
      await jobs.onConnected('SN-1')
      assert.ok(!sender.sent.some((s) => s.job.jobId === c.id), 'an expired job is never delivered')
      assert.equal((await t.app.db.selectFrom('jobs').select('status').where('id', '=', c.id).executeTakeFirstOrThrow()).status, 'expired')
      assert.ok((await auditEvents(t.app, 'job.expired')).some((e) => JSON.parse(e.details).jobId === c.id))
    })

    it('routes: request, list, show and cancel, with permissions and scope', async () => {
      const eng = (await sessionFor(t.app, 'eng')).accessToken
      const spec = (await sessionFor(t.app, 'spec')).accessToken
      const view = (await sessionFor(t.app, 'view')).accessToken
      const created = await call(t.app, 'POST', '/devices/SN-1/logs', {token: eng, body: {since: '2026-01-01T00:00:00.000Z'}})
      assert.equal(created.statusCode, 202, created.body)
      const job = created.json()
      assert.equal(job.status, 'queued')
      assert.deepEqual(job.params, {since: '2026-01-01T00:00:00.000Z'})
      // Out of scope: 404, as if the device did not exist.
      assert.equal((await call(t.app, 'POST', '/devices/SN-9/logs', {token: eng, body: {}})).statusCode, 404)
      assert.equal((await call(t.app, 'POST', '/devices/SN-9/diagnostics', {token: eng, body: {name: 'memory'}})).statusCode, 404)
      // Without logs:pull: 403 (applications specialists may run diagnostics, not pull logs).
      assert.equal((await call(t.app, 'POST', '/devices/SN-1/logs', {token: spec, body: {}})).statusCode, 403)
      assert.equal((await call(t.app, 'GET', '/logs', {token: spec})).statusCode, 403)
      assert.equal((await call(t.app, 'GET', '/logs', {token: view})).statusCode, 403)
      assert.equal((await call(t.app, 'POST', '/devices/SN-1/diagnostics', {token: view, body: {name: 'memory'}})).statusCode, 403)
      const diag = await call(t.app, 'POST', '/devices/SN-1/diagnostics', {token: spec, body: {name: 'memory'}})
      assert.equal(diag.statusCode, 202)
      assert.equal((await call(t.app, 'POST', '/devices/SN-1/diagnostics', {token: spec, body: {name: 'rm -rf /'}})).statusCode, 400)
      // Listing is scope-filtered.
      const otherJob = await call(t.app, 'POST', '/devices/SN-9/diagnostics', {token: root, body: {name: 'memory'}})
      const listed = (await call(t.app, 'GET', '/jobs', {token: eng})).json().jobs.map((j: {serial: string}) => j.serial)
      assert.ok(listed.length > 0)
      assert.ok(listed.every((s: string) => s === 'SN-1'))
      assert.equal((await call(t.app, 'GET', `/jobs/${otherJob.json().id}`, {token: eng})).statusCode, 404)
      assert.equal((await call(t.app, 'GET', `/jobs/${job.id}`, {token: view})).json().id, job.id)
      // Cancel needs the permission of the job's kind.
      assert.equal((await call(t.app, 'POST', `/jobs/${job.id}/cancel`, {token: spec})).statusCode, 403)
      const cancelled = await call(t.app, 'POST', `/jobs/${job.id}/cancel`, {token: eng})
      assert.equal(cancelled.statusCode, 200)
      assert.equal(cancelled.json().status, 'cancelled')
      assert.equal((await call(t.app, 'POST', `/jobs/${job.id}/cancel`, {token: eng})).statusCode, 409)
      assert.ok((await auditEvents(t.app, 'job.cancelled')).some((e) => JSON.parse(e.details).jobId === job.id))
      const catalogue = await call(t.app, 'GET', '/devices/SN-1/diagnostics', {token: view})
      assert.deepEqual(catalogue.json(), {serial: 'SN-1', online: false, diagnostics: null, jobKinds: null})
    })
  })
}
