import {strict as assert} from 'node:assert'
import type {JobUpdateMessage} from '../../../src/protocol/agent/jobs.js'
import type {CreateDeploymentRequest, DeploymentDetail} from '../../../src/protocol/api/deployments.js'
import type {TargetCatalog} from '../../../src/server/rollouts/catalog.js'
import type {Requester} from '../../../src/server/rollouts/service.js'
import {auditEvents, buildTestApp, seedUser, type TestApp} from '../helpers/app.js'
import {DB_KINDS} from '../helpers/database.js'

const MODEL = 'Analyzer X200'
const START = Date.parse('2026-03-01T08:00:00Z')
const HOUR = 3600_000

/** The published target the update service would return; only 2.4.1 for the X200 exists. */
export const fakeCatalog: TargetCatalog = {
  findTarget: async ({version, model}) => (version === '2.4.1' && model === MODEL ? {path: '2.4.1/x200.tar', version, models: [MODEL], length: 1024, sha256: 'ab'.repeat(32)} : null),
}

const ROOT: Requester = {username: 'root', scope: {all: true, entries: []}}

for (const kind of DB_KINDS) {
  describe(`rollout engine (${kind})`, () => {
    let t: TestApp
    let clock = START
    const engine = () => t.app.deployments.engine

    /** Enrolled X200s of acme labelled group=NAME (each test has its own group). */
    async function fleet(group: string, n: number, extra: {site?: string; customer?: string; enrolled?: boolean} = {}): Promise<string[]> {
      const serials = Array.from({length: n}, (_v, i) => `SN-${group}-${i}`)
      await t.app.db
        .insertInto('devices')
        .values(
          serials.map((serial) => ({
            serial,
            model: MODEL,
            customer_id: extra.customer ?? 'acme',
            site_id: extra.site ?? null,
            labels: JSON.stringify({group}),
            created_at: new Date(START).toISOString(),
            enrolled_at: extra.enrolled === false ? null : new Date(START).toISOString(),
            revoked_at: null,
            cert_fingerprint: null,
            last_seen_at: null,
            inventory: null,
          })),
        )
        .execute()
      return serials
    }

    async function deploy(group: string, input: Partial<CreateDeploymentRequest> = {}, who: Requester = ROOT): Promise<DeploymentDetail> {
      return t.app.deployments.create(who, {version: '2.4.1', model: MODEL, customer: 'acme', labels: {group}, stageWaitSeconds: 0, ...input})
    }

    const detail = (id: string) => t.app.deployments.get(ROOT.scope, id)

    async function report(id: string, serial: string, update: Omit<JobUpdateMessage, 'type' | 'jobId'>): Promise<void> {
      const row = await t.app.db.selectFrom('deployment_devices').select('job_id').where('deployment_id', '=', id).where('serial', '=', serial).executeTakeFirstOrThrow()
      assert.ok(row.job_id, `${serial} has no job`)
      await t.app.jobs.onUpdate({serial, customerId: 'acme'}, {type: 'job-update', jobId: row.job_id, ...update})
      await engine().idle()
    }

    const withJobs = (d: DeploymentDetail) => d.devices.filter((x) => x.jobId !== null).map((x) => x.serial)
    const inStage = (d: DeploymentDetail, stage: number) => d.devices.filter((x) => x.stage === stage).map((x) => x.serial)
    const tick = async (ms = 0) => {
      clock += ms
      await engine().tick()
    }
    const actionsOf = async (id: string) => (await auditEvents(t.app)).filter((e) => JSON.parse(e.details).deploymentId === id).map((e) => e.action)

    before(async () => {
      t = await buildTestApp(kind, {config: (c) => void (c.deployments.tickSeconds = 3600)})
      engine().options.now = () => new Date(clock)
      t.app.deployments.catalog = fakeCatalog
      await seedUser(t.app, {username: 'root', role: 'admin'})
      await t.app.db.insertInto('customers').values([{id: 'acme', name: 'Acme', created_at: new Date(START).toISOString()}, {id: 'other', name: 'Other', created_at: new Date(START).toISOString()}]).execute()
    })
    beforeEach(() => (clock = START))
    after(async () => t?.close())

    it('starts the next stage only after every device of the stage succeeded and the stage wait passed', async () => {
      await fleet('adv', 10)
      let d = await deploy('adv', {stages: [10, 50, 100], stageWaitSeconds: 24 * 3600})
      assert.deepEqual([d.status, d.currentStage, inStage(d, 0).length, inStage(d, 1).length, inStage(d, 2).length], ['running', 0, 1, 4, 5])
      assert.deepEqual(withJobs(d), inStage(d, 0), 'only stage 0 is given jobs')
      const [canary] = inStage(d, 0)
      await report(d.id, canary, {status: 'running', progress: {done: 45, total: 100, phase: 'downloading'}})
      d = await detail(d.id)
      assert.equal(d.devices.find((x) => x.serial === canary)?.summary, 'downloading 45%')
      await tick(HOUR)
      assert.equal((await detail(d.id)).currentStage, 0, 'a stage with a device still at work does not advance')
      await report(d.id, canary, {status: 'succeeded', result: {installedVersion: '2.4.1', previousVersion: '2.3.0'}})
      d = await detail(d.id)
      assert.deepEqual([d.currentStage, d.stageDetails[0].state], [0, 'waiting'])
      await tick(23 * HOUR)
      assert.equal((await detail(d.id)).currentStage, 0, 'the stage wait has not passed')
      await tick(HOUR + 1000)
      d = await detail(d.id)
      assert.equal(d.currentStage, 1)
      assert.deepEqual(withJobs(d).sort(), [...inStage(d, 0), ...inStage(d, 1)].sort())
      for (const serial of inStage(d, 1)) await report(d.id, serial, {status: 'succeeded'})
      await tick(24 * HOUR + 1000)
      d = await detail(d.id)
      assert.equal(d.currentStage, 2)
      for (const serial of inStage(d, 2)) await report(d.id, serial, {status: 'succeeded'})
      d = await detail(d.id)
      assert.equal(d.status, 'completed', 'the last stage completes without a wait')
      assert.deepEqual(d.counts, {devices: 10, pending: 0, inProgress: 0, succeeded: 10, failed: 0, other: 0})
      const actions = await actionsOf(d.id)
      assert.deepEqual(actions.filter((a) => a.startsWith('updates.')), ['updates.deployed', 'updates.stage.done', 'updates.stage.advanced', 'updates.stage.done', 'updates.stage.advanced', 'updates.stage.done', 'updates.completed'])
      const jobs = await t.app.db.selectFrom('jobs').selectAll().where('kind', '=', 'update').where('serial', 'like', 'SN-adv-%').execute()
      assert.equal(jobs.length, 10)
      assert.deepEqual(JSON.parse(jobs[0].params), {deploymentId: d.id, targetPath: '2.4.1/x200.tar', version: '2.4.1'})
    })

    it('halts at --halt-after 2 failed devices, and gives no further device a job', async () => {
      await fleet('cnt', 6)
      let d = await deploy('cnt', {stages: [50, 100], haltAfter: '2'})
      const stage0 = inStage(d, 0)
      assert.equal(stage0.length, 3)
      await report(d.id, stage0[0], {status: 'failed', progress: {done: 0, phase: 'installing'}, error: {code: 'INSTALL_FAILED', message: 'exit 3'}})
      assert.equal((await detail(d.id)).status, 'running', 'one failure is below the threshold')
      await report(d.id, stage0[1], {status: 'failed', progress: {done: 0, phase: 'health-check'}, error: {code: 'ROLLED_BACK', message: 'selftest failed; rolled back'}})
      d = await detail(d.id)
      assert.equal(d.status, 'halted')
      assert.match(d.haltedReason ?? '', /2 device\(s\) failed \(halt after 2\)/)
      assert.equal(d.devices.find((x) => x.serial === stage0[0])?.summary, 'failed at installing: INSTALL_FAILED exit 3')
      assert.equal(d.devices.find((x) => x.serial === stage0[1])?.step, 'rolled-back')
      await report(d.id, stage0[2], {status: 'succeeded'})
      await tick(HOUR)
      d = await detail(d.id)
      assert.deepEqual(withJobs(d).sort(), [...stage0].sort(), 'no job for stage 1 after the halt')
      assert.equal(d.devices.find((x) => x.serial === stage0[2])?.state, 'succeeded', 'a halted deployment still follows its devices')
      const halted = (await auditEvents(t.app, 'updates.halted')).find((e) => JSON.parse(e.details).deploymentId === d.id)
      assert.ok(halted)
      assert.equal(JSON.parse(halted.details).failed, 2)
    })

    it('halts at a percent of the devices dispatched so far', async () => {
      await fleet('pct', 4)
      let d = await deploy('pct', {stages: [100], haltAfter: '50%'})
      const all = inStage(d, 0)
      await report(d.id, all[0], {status: 'refused', error: {code: 'VERIFY_FAILED', message: 'hash mismatch'}})
      assert.equal((await detail(d.id)).status, 'running', '25% < 50%')
      await report(d.id, all[1], {status: 'refused', error: {code: 'NOT_NEWER', message: 'runs 2.5.0'}})
      d = await detail(d.id)
      assert.equal(d.devices.find((x) => x.serial === all[1])?.state, 'skipped', 'a device already newer is no failure')
      assert.equal(d.status, 'running')
      await report(d.id, all[2], {status: 'failed', error: {code: 'DOWNLOAD_FAILED', message: 'reset'}})
      d = await detail(d.id)
      assert.equal(d.status, 'halted')
      assert.match(d.haltedReason ?? '', /2 of 4 dispatched device\(s\) failed, 50%/)
    })

    it('counts a silent device as failed at the deadline, audited, and halts on it', async () => {
      await fleet('dl', 4)
      let d = await deploy('dl', {stages: [50, 100], deadlineSeconds: 2 * 3600})
      const [quiet, talker] = inStage(d, 0)
      await report(d.id, talker, {status: 'succeeded'})
      await report(d.id, quiet, {status: 'running', progress: {done: 10, total: 100, phase: 'downloading'}})
      await tick(HOUR)
      assert.equal((await detail(d.id)).status, 'running', 'before the deadline it is only slow')
      await tick(HOUR + 1000)
      d = await detail(d.id)
      const silent = d.devices.find((x) => x.serial === quiet)
      assert.deepEqual([silent?.state, silent?.error?.code, silent?.failedAt], ['failed', 'DEADLINE', 'downloading'])
      assert.equal(d.status, 'halted')
      const deadline = (await auditEvents(t.app, 'updates.device.deadline')).filter((e) => JSON.parse(e.details).deploymentId === d.id)
      assert.deepEqual(deadline.map((e) => [e.device_serial, e.outcome]), [[quiet, 'failure']])
      // A late success does not reopen the outcome.
      await report(d.id, quiet, {status: 'succeeded'})
      assert.equal((await detail(d.id)).devices.find((x) => x.serial === quiet)?.state, 'failed')
    })

    it('pause stops new jobs, resume continues, abort cancels jobs not yet started', async () => {
      await fleet('pra', 4)
      let d = await deploy('pra', {stages: [25, 50, 100]})
      d = await t.app.deployments.pause(ROOT, d.id)
      assert.equal(d.status, 'paused')
      await report(d.id, inStage(d, 0)[0], {status: 'succeeded'})
      await tick(HOUR)
      d = await detail(d.id)
      assert.deepEqual([d.status, d.currentStage, withJobs(d).length], ['paused', 0, 1], 'a paused deployment gives no new jobs')
      await assert.rejects(t.app.deployments.pause(ROOT, d.id), /is paused; it cannot be paused/)
      d = await t.app.deployments.resume(ROOT, d.id)
      assert.deepEqual([d.status, d.currentStage, withJobs(d).length], ['running', 1, 2])
      d = await t.app.deployments.abort(ROOT, d.id)
      assert.equal(d.status, 'aborted')
      const stage1 = d.devices.find((x) => x.stage === 1)
      assert.equal(stage1?.state, 'cancelled')
      const job = await t.app.db.selectFrom('jobs').select('status').where('id', '=', stage1?.jobId ?? '').executeTakeFirstOrThrow()
      assert.equal(job.status, 'cancelled')
      assert.deepEqual(inStage(d, 2).map((s) => d.devices.find((x) => x.serial === s)?.state), ['cancelled', 'cancelled'])
      await assert.rejects(t.app.deployments.resume(ROOT, d.id), (e: Error & {code?: string}) => e.code === 'DEPLOYMENT_STATE')
      const actions = (await actionsOf(d.id)).filter((a) => a.startsWith('updates.'))
      for (const a of ['updates.deployed', 'updates.paused', 'updates.resumed', 'updates.stage.advanced', 'updates.aborted']) assert.ok(actions.includes(a), `${a} audited`)
    })

    it('picks up devices that join the group later, into the last stage', async () => {
      const [a, b] = await fleet('join', 2)
      let d = await deploy('join', {stages: [50, 100], stageWaitSeconds: 3600})
      const late = (await fleet('join-late', 1, {enrolled: false}))[0]
      await t.app.db.updateTable('devices').set({labels: JSON.stringify({group: 'join'})}).where('serial', '=', late).execute()
      await tick()
      assert.ok(!(await detail(d.id)).devices.some((x) => x.serial === late), 'not before it is enrolled')
      await t.app.db.updateTable('devices').set({enrolled_at: new Date(clock).toISOString()}).where('serial', '=', late).execute()
      await tick()
      d = await detail(d.id)
      assert.equal(d.devices.find((x) => x.serial === late)?.stage, 1)
      assert.equal(d.devices.find((x) => x.serial === late)?.jobId, null, 'it waits for its stage')
      await report(d.id, inStage(d, 0)[0], {status: 'succeeded'})
      await tick(3600_000 + 1000)
      d = await detail(d.id)
      assert.deepEqual(withJobs(d).sort(), [a, b, late].sort())
      assert.ok((await actionsOf(d.id)).includes('updates.device.joined'))
    })

    it('never targets a device outside the deployer\'s scope, now or when it joins', async () => {
      await t.app.db.insertInto('sites').values([{id: 'north', customer_id: 'acme', name: 'North', created_at: new Date(START).toISOString()}, {id: 'south', customer_id: 'acme', name: 'South', created_at: new Date(START).toISOString()}]).execute()
      await seedUser(t.app, {username: 'north-eng', role: 'service-engineer', scope: {all: false, entries: [{customer: 'acme', site: 'north'}]}})
      const north = await fleet('scp', 2, {site: 'north'})
      const [south] = await fleet('scp-s', 1, {site: 'south'})
      await t.app.db.updateTable('devices').set({labels: JSON.stringify({group: 'scp'})}).where('serial', '=', south).execute()
      const eng: Requester = {username: 'north-eng', scope: {all: false, entries: [{customerId: 'acme', siteId: 'north'}]}}
      await assert.rejects(deploy('scp', {}, eng), /name one \(--to acme\/SITE\)/)
      await assert.rejects(deploy('scp', {site: 'south'}, eng), /no site "south"/)
      await assert.rejects(deploy('scp', {customer: 'other'}, eng), /no customer "other"/)
      let d = await deploy('scp', {site: 'north', stages: [100]}, eng)
      assert.deepEqual(d.devices.map((x) => x.serial).sort(), north)
      await t.app.db.updateTable('devices').set({site_id: 'north'}).where('serial', '=', south).execute()
      await t.app.db.updateTable('user_scopes').set({site_id: 'south'}).where('customer_id', '=', 'acme').where('site_id', '=', 'north').execute()
      await tick()
      d = await detail(d.id)
      assert.ok(!d.devices.some((x) => x.serial === south), 'the deployer no longer sees north: nothing new is picked up')
      await assert.rejects(t.app.deployments.get({all: false, entries: [{customerId: 'other', siteId: null}]}, d.id), /no deployment/)
    })

    it('refuses a version nobody published, and a group with no device', async () => {
      await assert.rejects(deploy('none', {version: '9.9.9'}), (e: Error & {code?: string}) => e.code === 'TARGET_NOT_FOUND')
      await assert.rejects(deploy('none'), (e: Error & {code?: string}) => e.code === 'NO_DEVICES')
    })
  })
}
