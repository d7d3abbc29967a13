import {strict as assert} from 'node:assert'
import {MockAgent} from 'undici'
import {ApiClient} from '../../src/client/api-client.js'
import {isServerAway} from '../../src/client/http-errors.js'
import {waitForJob} from '../../src/client/job-waiter.js'
import {type Job, JobsApi} from '../../src/client/jobs-api.js'
import {ExitCode, TetherError, UnavailableError} from '../../src/shared/errors.js'

const ORIGIN = 'https://tether.test:8443'
const PATH = '/api/v1/jobs/j1'
const json = {headers: {'content-type': 'application/json'}}
const T = '2026-01-01T00:00:00.000Z'
const job = (status: Job['status']): Job => ({
  id: 'j1', serial: 'SN-1', customer: 'acme', kind: 'logs', params: {}, status, requestedBy: 'a', createdAt: T, deadline: T,
  sentAt: null, startedAt: null, finishedAt: null, progress: null, result: null, error: null,
})
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8443'), {code: 'ECONNREFUSED'})

/** The waiter against undici's MockAgent: the same ApiClient and error mapping as the CLI. */
describe('job waiter (MockAgent)', () => {
  let agent: MockAgent
  let api: JobsApi
  let notices: string[]
  const notify = {onUnreachable: (e: TetherError) => void notices.push(`away: ${e.message}`), onReachable: () => void notices.push('back')}

  beforeEach(() => {
    agent = new MockAgent()
    agent.disableNetConnect()
    api = new JobsApi(new ApiClient({server: ORIGIN, accessToken: 't', dispatcher: agent}))
    notices = []
  })
  afterEach(async () => agent.close())

  it('waits out refused connections and 502/503 answers, says so once per outage, and returns the final job', async () => {
    const pool = agent.get(ORIGIN)
    pool.intercept({path: PATH, method: 'GET'}).reply(200, job('running'), json)
    pool.intercept({path: PATH, method: 'GET'}).replyWithError(refused())
    pool.intercept({path: PATH, method: 'GET'}).reply(502, '<html>Bad gateway</html>')
    pool.intercept({path: PATH, method: 'GET'}).reply(503, {error: {code: 'UNAVAILABLE', message: 'database unavailable'}}, json)
    pool.intercept({path: PATH, method: 'GET'}).reply(200, job('succeeded'), json)
    const done = await waitForJob(api, job('queued'), {timeoutMs: 20_000, intervalMs: 100, ...notify})
    assert.equal(done.status, 'succeeded')
    assert.equal(notices.length, 2, notices.join('\n'))
    assert.match(notices[0], /^away: .*connection refused/)
    assert.equal(notices[1], 'back')
  })

  it('returns the last state seen when the bound passes with the server up (exit 8 follows)', async () => {
    agent.get(ORIGIN).intercept({path: PATH, method: 'GET'}).reply(200, job('running'), json).persist()
    const started = Date.now()
    const last = await waitForJob(api, job('queued'), {timeoutMs: 600, intervalMs: 100})
    assert.equal(last.status, 'running')
    assert.ok(Date.now() - started >= 600)
  })

  it('throws exit 7 only when the server is still away as the bound passes, naming the job', async () => {
    agent.get(ORIGIN).intercept({path: PATH, method: 'GET'}).replyWithError(refused()).persist()
    const started = Date.now()
    const error = await waitForJob(api, job('queued'), {timeoutMs: 1200, ...notify}).then(
      () => assert.fail('resolved'),
      (e: TetherError) => e,
    )
    assert.ok(Date.now() - started >= 1200, 'waited for the whole bound')
    assert.equal(error.exitCode, ExitCode.UNAVAILABLE)
    assert.match(error.message, /connection refused.*gave up waiting for job j1 after 1s, its state is unknown: check later with `tether jobs show j1`/)
    assert.equal(error.details?.jobId, 'j1')
    assert.equal(notices.length, 1, 'one notice for one outage')
  })

  it('ends at once on an auth error, a 404 or a 500', async () => {
    for (const [status, exit] of [[401, ExitCode.AUTH], [404, ExitCode.NOT_FOUND], [500, ExitCode.UNAVAILABLE]] as const) {
      agent.get(ORIGIN).intercept({path: PATH, method: 'GET'}).reply(status, {error: {code: 'X', message: 'no'}}, json)
      const started = Date.now()
      await assert.rejects(waitForJob(api, job('queued'), {timeoutMs: 20_000, ...notify}), (e: TetherError) => e.exitCode === exit)
      assert.ok(Date.now() - started < 1000)
    }
    assert.deepEqual(notices, [])
  })

  it('counts a restarting server as away, not a certificate it cannot trust', () => {
    const away = (code: string) => isServerAway(new UnavailableError('x', {details: {errno: code}}))
    assert.ok(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET'].every(away))
    assert.ok(!away('UNABLE_TO_VERIFY_LEAF_SIGNATURE'))
    assert.ok(!away('ENOTFOUND'))
    assert.ok(isServerAway(new UnavailableError('x', {details: {status: 503}})))
    assert.ok(!isServerAway(new UnavailableError('x', {details: {status: 500}})))
    assert.ok(!isServerAway(new TetherError('x', {details: {status: 503}})))
  })
})
