import {strict as assert} from 'node:assert'
import {readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as tick} from 'node:timers/promises'
import nock from 'nock'
import {ManualClock} from '../../../src/agent/clock.js'
import {readAgentConfig, writeAgentConfig} from '../../../src/agent/data-dir.js'
import {EventRecorder} from '../../../src/agent/events.js'
import {DeviceJobs} from '../../../src/agent/jobs/device-jobs.js'
import {JobFailure} from '../../../src/agent/jobs/runner.js'
import {decideUpdateOnDevice, pendingUpdates} from '../../../src/agent/updates/local.js'
import type {JobProgress} from '../../../src/protocol/agent/index.js'
import {TestDevice, params} from './helpers/device.js'
import {custom} from './helpers/tuf-repo.js'

/** Polls a condition while real I/O (the loopback server, hooks) runs; the bound only stops a broken test. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await check()) return
    await tick(10)
  }
  throw new Error(`never happened: ${what}`)
}

describe('software updates on the device: download, approval, window, install, rollback', function () {
  this.timeout(30_000)
  let d: TestDevice
  const pkg = Buffer.alloc(256 * 1024)
  for (let i = 0; i < pkg.length; i++) pkg[i] = i % 251

  before(() => nock.restore())
  after(() => nock.activate())
  afterEach(() => d.stop())

  it('refuses every update while agent.json updates.allowed is false, without asking the server anything', async () => {
    d = await TestDevice.create({allowed: false})
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'UPDATES_NOT_ALLOWED')
    assert.equal(failure?.refused, true)
    assert.deepEqual(d.server.metadataRequests, [])
  })

  it('installs: package path as the last argument, TETHER_UPDATE_VERSION, installed.json, every step reported', async () => {
    d = await TestDevice.create()
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const {result, failure, progress} = await d.run(params('2.0.0'))
    assert.equal(failure, undefined, failure?.message)
    assert.deepEqual(result, {installedVersion: '2.0.0', previousVersion: null})
    const [install, health] = await d.hookLog()
    assert.match(install, /^install 2\.0\.0 \/.+\/analyzer-2\.0\.0\.pkg$/)
    assert.equal(health, 'health 2.0.0 ')
    assert.equal(JSON.parse(await readFile(d.updates.installed, 'utf8')).version, '2.0.0')
    assert.deepEqual((await d.steps()).map((s) => s.step), ['downloaded', 'verified', 'installed'])
    const phases = [...new Set(progress.map((p) => p.phase))]
    assert.deepEqual(phases, ['downloading', 'verifying', 'installing', 'health-check'])
    const last = progress.filter((p) => p.phase === 'downloading').at(-1)!
    assert.deepEqual([last.done, last.total], [pkg.length, pkg.length])
    // The installed package's bytes do not stay in the data dir.
    assert.deepEqual(await readdir(d.updates.downloads), [])
  })

  it('trust on first use without a baked root: fetches 1.root.json, says so in the local audit', async () => {
    d = await TestDevice.create({}, {trustRoot: false})
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure, undefined, failure?.message)
    assert.equal(d.server.metadataRequests[0], '1.root.json')
    const audit = (await readFile(d.files.audit, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as {action: string; details: {source?: string}})
    assert.equal(audit.find((e) => e.action === 'update.root.trusted')?.details.source, 'first-use')
  })

  it('a root.json cut by a crash: walks again from the baked root; without one, refuses instead of trusting the server again', async () => {
    d = await TestDevice.create()
    d.repo.addTarget('1.0.0/a.pkg', pkg, custom('1.0.0'))
    assert.equal((await d.run(params('1.0.0', '1.0.0/a.pkg'), {jobId: 'a'})).failure, undefined)
    d.repo.rotateRoot()
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    await writeFile(join(d.updates.metadata, 'root.json'), '{"signed": {"_ty')
    const {failure} = await d.run(params('2.0.0'), {jobId: 'b'})
    assert.equal(failure, undefined, failure?.message)
    assert.match(await readFile(d.files.audit, 'utf8'), /"source":"image-after-damage"/)

    d.repo.addTarget('3.0.0/c.pkg', pkg, custom('3.0.0'))
    await writeFile(join(d.updates.metadata, 'root.json'), '')
    await rm(d.updates.trustedRoot)
    const asked = d.server.metadataRequests.length
    const refused = await d.run(params('3.0.0', '3.0.0/c.pkg'), {jobId: 'c'})
    assert.equal(refused.failure?.code, 'VERIFY_FAILED')
    assert.match(refused.failure!.message, /damaged.*--update-root/)
    assert.equal(d.server.metadataRequests.length, asked, 'nothing fetched: no new trust on first use')
  })

  it('a download cut at 50% resumes in a fresh executor from the partial offset: no byte fetched twice', async () => {
    d = await TestDevice.create()
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const half = pkg.length / 2
    d.server.misbehave.cutAfter = half
    const first = await d.run(params('2.0.0'))
    assert.equal(first.failure?.code, 'DOWNLOAD_FAILED')
    const [sha] = await readdir(d.updates.downloads)
    assert.equal((await stat(join(d.updates.downloads, sha, 'analyzer-2.0.0.pkg.part'))).size, half)

    d.server.misbehave = {}
    const second = await d.run(params('2.0.0'), {executor: d.executor(), jobId: 'job-1'})
    assert.equal(second.failure, undefined, second.failure?.message)
    assert.deepEqual(d.server.ranges, [null, `bytes=${half}-`])
    assert.equal(d.server.packageBytesServed, pkg.length)
    assert.deepEqual((await d.steps()).find((s) => s.step === 'downloaded')?.bytes, half)
  })

  it('a refusal of the download (429, its body still arriving) fails the job, and the next try downloads', async () => {
    d = await TestDevice.create()
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    d.server.misbehave.packageStatus = 429
    const first = await d.run(params('2.0.0'))
    assert.equal(first.failure?.code, 'DOWNLOAD_FAILED')
    assert.match(first.failure?.message ?? '', /HTTP 429/)
    await new Promise((resolve) => setTimeout(resolve, 200))
    d.server.misbehave = {}
    const second = await d.run(params('2.0.0'))
    assert.equal(second.failure, undefined, second.failure?.message)
  })

  it('a server that ignores Range is taken from the start (the partial is overwritten, the hash still checks)', async () => {
    d = await TestDevice.create()
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    d.server.misbehave.cutAfter = 1000
    await d.run(params('2.0.0'))
    d.server.misbehave = {ignoreRange: true}
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure, undefined, failure?.message)
  })

  for (const [name, touch, code, steps, hooks] of [
    ['a failed health check rolls back (ROLLED_BACK)', ['fail-health'], 'ROLLED_BACK', ['health-failed', 'rolled-back'], ['install', 'health', 'rollback']],
    ['a failed install rolls back (ROLLED_BACK)', ['fail-install'], 'ROLLED_BACK', ['install-failed', 'rolled-back'], ['install', 'rollback']],
    ['a failed rollback says so (ROLLBACK_FAILED)', ['fail-health', 'fail-rollback'], 'ROLLBACK_FAILED', ['health-failed', 'rollback-failed'], ['install', 'health', 'rollback']],
  ] as const) {
    it(name, async () => {
      d = await TestDevice.create()
      await writeFile(d.updates.installed, JSON.stringify({version: '1.0.0'}))
      for (const f of touch) await writeFile(join(d.dir, f), '')
      d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
      const {failure} = await d.run(params('2.0.0'))
      assert.equal(failure?.code, code)
      assert.equal(failure?.refused, false)
      assert.deepEqual((await d.hookLog()).map((l) => l.split(' ')[0]), hooks)
      assert.deepEqual((await d.steps()).map((s) => s.step).slice(2), steps)
      assert.equal(JSON.parse(await readFile(d.updates.installed, 'utf8')).version, '1.0.0')
    })
  }

  it('a failed health check without a rollback command fails HEALTH_CHECK_FAILED and says none is configured', async () => {
    d = await TestDevice.create({rollback: undefined})
    await writeFile(join(d.dir, 'fail-health'), '')
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'HEALTH_CHECK_FAILED')
    assert.match(failure!.message, /pump offline.*no rollback command/)
  })

  it('downloads at once but installs only inside the window (Sat 02:00-06:00 Europe/Berlin, injected clock)', async () => {
    d = await TestDevice.create({window: 'Sat 02:00-06:00 Europe/Berlin'})
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const clock = new ManualClock(Date.parse('2026-01-02T12:00:00Z')) // a Friday; the window opens 2026-01-03T01:00Z
    const progress: JobProgress[] = []
    const job = d.run(params('2.0.0'), {executor: d.executor(clock), progress})
    await until('waiting for the window', () => progress.some((p) => p.phase === 'waiting-for-window'))
    assert.equal(d.server.packageBytesServed, pkg.length, 'downloaded before waiting')
    while (clock.now() < Date.parse('2026-01-03T00:59:00Z')) {
      clock.advance(Math.min(3_600_000, Date.parse('2026-01-03T00:59:00Z') - clock.now()))
      await tick(5)
    }
    assert.deepEqual(await d.hookLog(), [], 'nothing installed a minute before the window')
    clock.advance(60_000)
    const {result, failure} = await job
    assert.equal(failure, undefined, failure?.message)
    assert.equal((result as {installedVersion: string}).installedVersion, '2.0.0')
    assert.equal(JSON.parse(await readFile(d.updates.installed, 'utf8')).installedAt, '2026-01-03T01:00:00.000Z')
  })

  for (const decision of ['approved', 'deferred'] as const) {
    it(`requireApproval: waits at the device; ${decision === 'approved' ? '`approve` installs' : '`defer` refuses it (DEFERRED)'}`, async () => {
      d = await TestDevice.create({requireApproval: true})
      d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
      const progress: JobProgress[] = []
      const job = d.run(params('2.0.0'), {progress, jobId: 'f0e1d2c3-job'})
      await until('waiting for approval', () => progress.some((p) => p.phase === 'waiting-for-approval'))
      const view = await pendingUpdates(d.dir)
      assert.deepEqual(view.updates.map((u) => [u.jobId, u.version, u.length, u.state]), [['f0e1d2c3-job', '2.0.0', pkg.length, 'pending']])
      assert.deepEqual(await d.hookLog(), [])
      await decideUpdateOnDevice(d.dir, 'f0e1', decision)
      const {result, failure} = await job
      if (decision === 'approved') assert.equal((result as {installedVersion: string}).installedVersion, '2.0.0', failure?.message)
      else assert.deepEqual([failure?.code, failure?.refused], ['DEFERRED', true])
      const step = (await d.steps()).find((s) => s.step === decision)
      assert.match(String(step?.actor), /^local:/)
      assert.deepEqual((await pendingUpdates(d.dir)).updates, [])
      await assert.rejects(decideUpdateOnDevice(d.dir, 'f0e1', 'approved'), /already/)
    })
  }

  it('requireApproval: a job that times out withdraws its pending entry; an agent that stops keeps it for the re-pushed job', async () => {
    d = await TestDevice.create({requireApproval: true})
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    for (const [jobId, code] of [['job-stopping', 'FAILED'], ['job-timeout', 'TIMEOUT']] as const) {
      const progress: JobProgress[] = []
      const controller = new AbortController()
      const job = d.run(params('2.0.0'), {progress, jobId, signal: controller.signal})
      await until('waiting for approval', () => progress.some((p) => p.phase === 'waiting-for-approval'))
      controller.abort(new JobFailure(code, code === 'TIMEOUT' ? 'the update job did not finish within 60s' : 'the agent is stopping'))
      assert.equal((await job).failure?.code, code)
    }
    const all = (await pendingUpdates(d.dir, {all: true})).updates
    assert.deepEqual(all.map((u) => [u.jobId, u.state]).sort(), [['job-stopping', 'pending'], ['job-timeout', 'withdrawn']])
    await assert.rejects(decideUpdateOnDevice(d.dir, 'job-timeout', 'approved'), /already withdrawn/)
  })

  it('the agent advertises the update kind and reports the installed version in its inventory', async () => {
    d = await TestDevice.create()
    const config = await readAgentConfig(d.files)
    const jobs = new DeviceJobs({config, files: d.files, recorder: new EventRecorder(d.files), log: {info: () => undefined, warn: () => undefined}, agentVersion: '0.0.0'})
    assert.ok(jobs.jobKinds().includes('update'))
    await writeAgentConfig(d.files, {...config, acceptedJobKinds: ['logs']})
    await writeFile(d.updates.installed, JSON.stringify({version: '2.4.1'}))
    await jobs.config()
    assert.equal(jobs.softwareVersion, '2.4.1')
    assert.ok(!jobs.jobKinds().includes('update'))
    jobs.stop()
  })
})
