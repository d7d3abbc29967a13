import {strict as assert} from 'node:assert'
import type {JobKind, JobMessage} from '../../../src/protocol/agent/index.js'
import {MAX_JOB_RESULT_BYTES} from '../../../src/protocol/agent/index.js'
import {JobFailure, JobRunner, type JobAuditInput, type JobExecutor, type JobRunnerOptions, type JobUpdate} from '../../../src/agent/jobs/runner.js'

const quiet = {info: () => undefined, warn: () => undefined}
const future = (): string => new Date(Date.now() + 60_000).toISOString()
let n = 0
const job = (kind: JobKind = 'diagnostic', extra: Partial<JobMessage> = {}): JobMessage =>
  ({type: 'job', jobId: `job-${++n}`, kind, params: kind === 'diagnostic' ? {name: 'system-info'} : {}, deadline: future(), ...extra}) as JobMessage

function deferred<T = void>() {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)))
  return {promise, resolve, reject}
}

function harness(overrides: Partial<JobRunnerOptions> = {}, executor?: JobExecutor) {
  const updates: JobUpdate[] = []
  const audits: JobAuditInput[] = []
  const runner = new JobRunner({
    executors: {diagnostic: executor ?? (async () => ({ok: true})), logs: executor ?? (async () => ({ok: true}))},
    accepts: async () => true,
    timeoutMs: () => 5000,
    concurrency: 2,
    send: (u) => updates.push(u),
    audit: async (a) => void audits.push(a),
    log: quiet,
    ...overrides,
  })
  const finals = (jobId: string) => updates.filter((u) => u.jobId === jobId && u.status !== 'running')
  const settle = async (): Promise<void> => {
    await new Promise((r) => setImmediate(r))
    await runner.idle()
  }
  return {runner, updates, audits, finals, settle}
}

describe('JobRunner', () => {
  it('runs at most `concurrency` jobs at once and queues the rest', async () => {
    let active = 0
    let peak = 0
    const gates = Array.from({length: 5}, () => deferred())
    let i = 0
    const h = harness({}, async () => {
      const gate = gates[i++]
      active++
      peak = Math.max(peak, active)
      await gate.promise
      active--
      return {done: true}
    })
    const jobs = Array.from({length: 5}, () => job())
    for (const j of jobs) h.runner.submit(j)
    await new Promise((r) => setTimeout(r, 20))
    assert.equal(h.runner.running, 2)
    assert.equal(h.runner.queued, 3)
    for (const g of gates) g.resolve()
    await h.settle()
    assert.equal(peak, 2)
    for (const j of jobs) assert.deepEqual(h.finals(j.jobId).map((u) => u.status), ['succeeded'])
    assert.ok(h.updates.some((u) => u.status === 'running'), 'running is reported')
  })

  it('aborts a job that outlives its kind timeout and reports TIMEOUT', async () => {
    let aborted = false
    const h = harness({timeoutMs: () => 60}, (ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => ((aborted = true), reject(new Error('stopped'))))))
    const j = job()
    h.runner.submit(j)
    await h.settle()
    const [final] = h.finals(j.jobId)
    assert.equal(final.status, 'failed')
    assert.equal(final.error?.code, 'TIMEOUT')
    assert.ok(aborted, 'the executor saw the abort')
    assert.equal(h.audits.at(-1)?.action, 'job.finished')
  })

  it('refuses a kind the local config does not accept, audited for both sides, without running it', async () => {
    let ran = false
    const h = harness({accepts: async (kind) => kind !== 'logs'}, async () => ((ran = true), {}))
    const j = job('logs')
    h.runner.submit(j)
    await h.settle()
    assert.equal(ran, false)
    const [final] = h.finals(j.jobId)
    assert.equal(final.status, 'refused')
    assert.equal(final.error?.code, 'KIND_NOT_ALLOWED')
    const refusal = h.audits.find((a) => a.action === 'device.job.refused')
    assert.ok(refusal?.forServer, 'a refusal goes to the server audit too')
    assert.equal(refusal?.outcome, 'denied')
  })

  it('runs a job pushed twice only once, and answers the duplicate with the final status again', async () => {
    let runs = 0
    const h = harness({}, async () => ({run: ++runs}))
    const j = job()
    h.runner.submit(j)
    h.runner.submit(j)
    await h.settle()
    h.runner.submit(j)
    await h.settle()
    assert.equal(runs, 1)
    assert.deepEqual(h.finals(j.jobId).map((u) => u.status), ['succeeded', 'succeeded'])
  })

  it('a failing job is reported failed and the next job still runs', async () => {
    const h = harness({}, async (ctx) => {
      if ((ctx.params as {name: string}).name === 'boom') throw new Error('disk on fire')
      return {fine: true}
    })
    const bad = job('diagnostic', {params: {name: 'boom'}} as Partial<JobMessage>)
    const good = job()
    h.runner.submit(bad)
    h.runner.submit(good)
    await h.settle()
    assert.deepEqual(h.finals(bad.jobId).map((u) => [u.status, u.error?.message]), [['failed', 'disk on fire']])
    assert.deepEqual(h.finals(good.jobId).map((u) => u.status), ['succeeded'])
  })

  it('a JobFailure marked refused ends as refused (e.g. a name not in the catalogue)', async () => {
    const h = harness({}, async () => {
      throw new JobFailure('UNKNOWN_DIAGNOSTIC', 'not in the catalogue', true)
    })
    const j = job()
    h.runner.submit(j)
    await h.settle()
    assert.deepEqual(h.finals(j.jobId).map((u) => [u.status, u.error?.code]), [['refused', 'UNKNOWN_DIAGNOSTIC']])
    assert.ok(h.audits.find((a) => a.action === 'device.job.refused')?.forServer)
  })

  it('does not start a job whose deadline has passed (EXPIRED)', async () => {
    let ran = false
    const h = harness({}, async () => ((ran = true), {}))
    const j = job('diagnostic', {deadline: new Date(Date.now() - 1000).toISOString()})
    h.runner.submit(j)
    await h.settle()
    assert.equal(ran, false)
    assert.equal(h.finals(j.jobId)[0].error?.code, 'EXPIRED')
  })

  it('answers BUSY when the queue is full', async () => {
    const gate = deferred()
    const h = harness({concurrency: 1, queueMax: 1}, async () => gate.promise)
    const jobs = [job(), job(), job()]
    for (const j of jobs) h.runner.submit(j)
    await new Promise((r) => setTimeout(r, 20))
    assert.equal(h.finals(jobs[2].jobId)[0]?.error?.code, 'BUSY')
    gate.resolve()
    await h.settle()
    assert.equal(h.finals(jobs[1].jobId)[0].status, 'succeeded')
  })

  it('replaces a result larger than the frame budget with a truncation note', async () => {
    const h = harness({}, async () => ({blob: 'x'.repeat(MAX_JOB_RESULT_BYTES + 10)}))
    const j = job()
    h.runner.submit(j)
    await h.settle()
    const result = h.finals(j.jobId)[0].result as {truncated: boolean; bytes: number}
    assert.equal(result.truncated, true)
    assert.ok(result.bytes > MAX_JOB_RESULT_BYTES)
    assert.ok(JSON.stringify(h.finals(j.jobId)[0]).length < MAX_JOB_RESULT_BYTES)
  })

  it('reports progress while running', async () => {
    const h = harness({}, async (ctx) => {
      ctx.progress({done: 1, total: 2})
      ctx.progress({done: 2, total: 2})
      return {}
    })
    const j = job()
    h.runner.submit(j)
    await h.settle()
    assert.deepEqual(h.updates.filter((u) => u.jobId === j.jobId && u.progress).map((u) => u.progress), [{done: 1, total: 2}, {done: 2, total: 2}])
  })

  it('keeps working when the audit cannot be written', async () => {
    const h = harness({audit: async () => Promise.reject(new Error('disk full'))})
    const j = job()
    h.runner.submit(j)
    await h.settle()
    assert.equal(h.finals(j.jobId)[0].status, 'succeeded')
  })
})
