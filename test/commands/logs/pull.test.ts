import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {MockAgent} from 'undici'
import {ApiClient} from '../../../src/client/api-client.js'
import {jobOutcome} from '../../../src/client/jobs-cli.js'
import {JobsApi, type Job} from '../../../src/client/jobs-api.js'
import {pullBundle} from '../../../src/client/logs-pull.js'
import {ExitCode, TetherError} from '../../../src/shared/errors.js'

const ORIGIN = 'https://tether.test:8443'
const body = Buffer.from('a tar.gz, pretend')
const sha = createHash('sha256').update(body).digest('hex')
const bundle = {id: 'b1', serial: 'SN-1', customer: 'acme', size: body.length, sha256: sha, format: 'tar.gz', region: 'eu', createdAt: '2026-11-22T10:00:00.000Z', initiator: 'user', requestedBy: 'alice', jobId: 'j1', since: null}

describe('logs pull (client library)', () => {
  let agent: MockAgent
  let api: JobsApi
  let dir: string

  beforeEach(async () => {
    agent = new MockAgent()
    agent.disableNetConnect()
    api = new JobsApi(new ApiClient({server: ORIGIN, accessToken: 't', dispatcher: agent}))
    dir = await mkdtemp(join(tmpdir(), 'tether-pull-'))
  })
  afterEach(async () => {
    await agent.close()
    await rm(dir, {recursive: true, force: true})
  })

  it('writes the file and checks the SHA-256 (a serial resolves to the newest bundle)', async () => {
    const pool = agent.get(ORIGIN)
    pool.intercept({path: '/api/v1/logs/SN-1', method: 'GET'}).reply(200, bundle)
    pool.intercept({path: '/api/v1/logs/b1/content', method: 'GET'}).reply(200, body, {headers: {'x-content-sha256': sha}})
    const out = join(dir, 'b.tar.gz')
    const r = await pullBundle(api, 'SN-1', out)
    assert.equal(r.sha256, sha)
    assert.equal(r.bytes, body.length)
    assert.deepEqual(await readFile(out), body)
  })

  it('deletes the file and fails (exit 1) when the SHA-256 does not match', async () => {
    const pool = agent.get(ORIGIN)
    pool.intercept({path: '/api/v1/logs/b1', method: 'GET'}).reply(200, bundle)
    pool.intercept({path: '/api/v1/logs/b1/content', method: 'GET'}).reply(200, Buffer.from('a tar.gz, PRETEND'), {headers: {'x-content-sha256': sha}})
    const out = join(dir, 'b.tar.gz')
    await assert.rejects(pullBundle(api, 'b1', out), (e: TetherError) => e.exitCode === ExitCode.FAILED && e.code === 'CHECKSUM_MISMATCH')
    assert.deepEqual(await readdir(dir), [], 'neither the file nor its temp file is left')
  })

  it('turns a bundle that failed verification on the server into exit 1', async () => {
    const pool = agent.get(ORIGIN)
    pool.intercept({path: '/api/v1/logs/b1', method: 'GET'}).reply(200, bundle)
    pool.intercept({path: '/api/v1/logs/b1/content', method: 'GET'}).reply(500, {error: {code: 'BUNDLE_TAMPERED', message: 'segment 0 failed authentication'}})
    await assert.rejects(pullBundle(api, 'b1', join(dir, 'x')), (e: TetherError) => e.exitCode === ExitCode.FAILED && e.code === 'BUNDLE_TAMPERED')
    assert.deepEqual(await readdir(dir), [])
  })

  it('maps job statuses to exit codes: 0 succeeded, 1 refused/failed/expired, 8 still running', () => {
    const job = (status: Job['status']): Job => ({
      id: 'j', serial: 'SN-1', customer: 'acme', kind: 'diagnostic', params: {name: 'memory'}, status, requestedBy: 'a', createdAt: '', deadline: '',
      sentAt: null, startedAt: null, finishedAt: null, progress: null, result: null, error: status === 'refused' ? {code: 'KIND_NOT_ALLOWED', message: 'no'} : null,
    })
    assert.equal(jobOutcome(job('succeeded')), null)
    assert.equal(jobOutcome(job('refused'))?.exitCode, ExitCode.FAILED)
    assert.match(jobOutcome(job('refused'))?.message ?? '', /KIND_NOT_ALLOWED/)
    assert.equal(jobOutcome(job('failed'))?.exitCode, ExitCode.FAILED)
    assert.equal(jobOutcome(job('expired'))?.exitCode, ExitCode.FAILED)
    assert.equal(jobOutcome(job('queued'))?.exitCode, ExitCode.PENDING)
    assert.equal(jobOutcome(job('running'))?.exitCode, ExitCode.PENDING)
  })
})

describe('logs pull progress bar', () => {
  it('ends at 100% even when the last chunks arrive inside the redraw throttle', async () => {
    const {progressBar} = await import('../../../src/client/logs-pull.js')
    const {PassThrough} = await import('node:stream')
    let drawn = ''
    const stream = Object.assign(new PassThrough(), {isTTY: true, columns: 120})
    stream.on('data', (d: Buffer) => (drawn += d.toString()))
    const bar = await progressBar('bundle', stream)
    bar.start(3_000_000)
    // All within a few milliseconds: only the first update is drawn by the throttle.
    for (const done of [1_000_000, 2_000_000, 3_000_000]) bar.update(done)
    bar.stop()
    // Frames are separated by carriage returns or cursor moves (ESC [ n G / ESC [ K).
    const frames = drawn.split(new RegExp(`\\r|${String.fromCharCode(27)}\\[\\d*[GK]`)).filter((f) => f.includes('%'))
    assert.match(frames.at(-1) ?? '', /100% \| 3\.0\/3\.0 MB/)
  })
})
