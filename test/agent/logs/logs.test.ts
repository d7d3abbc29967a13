import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import nock from 'nock'
import {AgentConfig, agentFiles, type AgentFiles} from '../../../src/agent/data-dir.js'
import {EventRecorder} from '../../../src/agent/events.js'
import {JobFailure} from '../../../src/agent/jobs/runner.js'
import {type CollectOptions, startCollection} from '../../../src/agent/logs/collect.js'
import {LogsService} from '../../../src/agent/logs/service.js'
import {expandSources, globToRegExp} from '../../../src/agent/logs/sources.js'
import {uploadBundle, UploadStore, type PendingUpload} from '../../../src/agent/logs/uploader.js'
import {LocalAudit} from '../../../src/agent/local-audit.js'
import {FakeUploadServer} from './fake-upload-server.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const run = promisify(execFile)

/** A whole collection, awaited. */
async function collectLogs(options: CollectOptions): Promise<{file: string; size: number; sha256: string; files: number}> {
  const {bundle, done} = await startCollection(options)
  const r = await done
  return {file: bundle.file, files: bundle.files, ...r}
}

describe('log collection and resumable upload', function () {
  this.timeout(60_000)
  let dir: string
  let logs: string
  let files: AgentFiles
  const DAY = 86_400_000

  // undici's sockets come from our own TLS connector; nock must not wrap them.
  before(() => nock.restore())
  after(() => nock.activate())

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-logs-'))
    logs = join(dir, 'var', 'log', 'device')
    files = agentFiles(join(dir, 'agent'))
    await mkdir(join(logs, 'sub', 'deep'), {recursive: true})
    await mkdir(files.dir, {recursive: true})
    await writeFile(join(logs, 'a.log'), 'alpha\n')
    await writeFile(join(logs, 'sub', 'b.log'), randomBytes(300_000))
    await writeFile(join(logs, 'sub', 'deep', 'c.log'), 'charlie\n')
    await writeFile(join(logs, 'notes.txt'), 'not a log\n')
    await writeFile(join(logs, 'old.log'), 'old\n')
    const old = new Date(Date.now() - 3 * DAY)
    await utimes(join(logs, 'old.log'), old, old)
  })
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  describe('sources', () => {
    it('globs: * within a name, ** across directories, literal paths; since filters by mtime', async () => {
      const all = await expandSources([`${logs}/*.log`, `${logs}/**/*.log`, `${logs}/notes.txt`, `${logs}/missing.log`], {baseDir: dir})
      assert.deepEqual(all.map((f) => f.path.slice(logs.length + 1)), ['a.log', 'notes.txt', 'old.log', 'sub/b.log', 'sub/deep/c.log'])
      const recent = await expandSources([`${logs}/**/*.log`], {baseDir: dir, sinceMs: Date.now() - DAY})
      assert.deepEqual(recent.map((f) => f.path.slice(logs.length + 1)), ['a.log', 'sub/b.log', 'sub/deep/c.log'])
      const shallow = await expandSources([`${logs}/*/*.log`], {baseDir: dir})
      assert.deepEqual(shallow.map((f) => f.path.slice(logs.length + 1)), ['sub/b.log'])
    })

    it('glob syntax', () => {
      assert.ok(globToRegExp('/v/**/*.log').test('/v/x.log'))
      assert.ok(globToRegExp('/v/**/*.log').test('/v/a/b/x.log'))
      assert.ok(!globToRegExp('/v/*.log').test('/v/a/x.log'))
      assert.ok(globToRegExp('/v/app-?.log').test('/v/app-1.log'))
      assert.ok(!globToRegExp('/v/a.log').test('/v/aXlog'))
    })
  })

  it('packs the selected files into a tar.zst in the spool, with its size and SHA-256 (read by tar --zstd)', async () => {
    const bundle = await collectLogs({sources: [`${logs}/**/*.log`], baseDir: dir, spoolDir: files.spool, sinceMs: Date.now() - DAY, maxBytes: 10_000_000})
    const bytes = await readFile(bundle.file)
    assert.equal(bundle.size, bytes.length)
    assert.equal(bundle.sha256, sha(bytes))
    assert.equal(bundle.files, 3)
    assert.match(bundle.file, /\.tar\.zst$/)
    const names = (await run('tar', ['--zstd', '-tf', bundle.file])).stdout.trim().split('\n')
    const rel = logs.replace(/^\//, '')
    assert.deepEqual(names.sort(), [`${rel}/a.log`, `${rel}/sub/b.log`, `${rel}/sub/deep/c.log`])
    const out = join(dir, 'out')
    await mkdir(out)
    await run('tar', ['--zstd', '-xf', bundle.file, '-C', out])
    for (const name of ['a.log', 'sub/b.log', 'sub/deep/c.log']) assert.deepEqual(await readFile(join(out, rel, name)), await readFile(join(logs, name)), name)
  })

  it('refuses a bundle over the spool bound and leaves nothing behind', async () => {
    await assert.rejects(collectLogs({sources: [`${logs}/**/*.log`], baseDir: dir, spoolDir: files.spool, maxBytes: 1000}), (e: JobFailure) => e.code === 'BUNDLE_TOO_LARGE')
    assert.deepEqual(await readdir(files.spool), [])
  })

  it('says so when nothing matches', async () => {
    await assert.rejects(collectLogs({sources: [`${logs}/*.none`], baseDir: dir, spoolDir: files.spool, maxBytes: 1000}), (e: JobFailure) => e.code === 'NO_LOG_FILES')
  })

  describe('upload', () => {
    let server: FakeUploadServer
    let store: UploadStore
    let state: PendingUpload
    let bundleBytes: Buffer
    beforeEach(async () => {
      server = await FakeUploadServer.start()
      store = new UploadStore(files.spool)
      await mkdir(files.spool, {recursive: true})
      bundleBytes = randomBytes(1_000_000 + 123)
      const file = join(files.spool, 'bundle-t.tar.gz')
      await writeFile(file, bundleBytes)
      state = {localId: 't', file, size: bundleBytes.length, sha256: sha(bundleBytes), format: 'tar.gz', streamed: false, uploadId: null, offset: 0, pid: process.pid, createdAt: new Date().toISOString()}
      await store.save(state)
    })
    afterEach(async () => server.stop())

    it('uploads in chunks and the server gets the exact bytes', async () => {
      const progress: number[] = []
      const r = await uploadBundle(server.api(), store, state, {chunkBytes: 256 * 1024, onProgress: (d) => progress.push(d)})
      assert.deepEqual(server.content(state.uploadId!), bundleBytes)
      assert.equal(r.resumedFrom, 0)
      assert.equal(r.bytesSent, bundleBytes.length)
      assert.deepEqual(server.putOffsets, [0, 262144, 524288, 786432])
      assert.equal(progress.at(-1), bundleBytes.length)
    })

    it('the server dies mid-chunk: the upload resumes from the committed offset, not from 0', async () => {
      server.dropAtByte = 600_000
      const r = await uploadBundle(server.api(), store, state, {chunkBytes: 256 * 1024, retryBaseMs: 20})
      assert.deepEqual(server.content(state.uploadId!), bundleBytes)
      // 600,000 bytes arrived; whole 64 KiB segments were kept: 589,824 committed.
      const committed = Math.floor(600_000 / server.segment) * server.segment
      assert.ok(server.putOffsets.includes(committed), `resumed at ${committed}: ${server.putOffsets.join(',')}`)
      assert.equal(r.resumedFrom, committed, 'the outcome (and the local audit) says where it resumed')
      assert.ok(!server.putOffsets.slice(3).includes(0), 'never restarted from 0')
      assert.ok(r.bytesSent < bundleBytes.length + 256 * 1024, `sent ${r.bytesSent}: at most one chunk again`)
    })

    it('the agent dies mid-upload: a new process resumes from the state in the spool', async () => {
      const controller = new AbortController()
      await assert.rejects(
        uploadBundle(server.api(), store, state, {
          chunkBytes: 256 * 1024,
          signal: controller.signal,
          onProgress: (done) => done >= 512 * 1024 && controller.abort(),
        }),
      )
      const [saved] = await store.list()
      assert.equal(saved.offset, 512 * 1024)
      const r = await uploadBundle(server.api(), store, saved, {chunkBytes: 256 * 1024})
      assert.equal(r.resumedFrom, 512 * 1024)
      assert.equal(r.bytesSent, bundleBytes.length - 512 * 1024)
      assert.deepEqual(server.content(saved.uploadId!), bundleBytes)
    })

    it('a chunk smaller than the server segment commits nothing: the chunk grows instead of looping', async () => {
      server.segment = 512 * 1024
      const r = await uploadBundle(server.api(), store, state, {chunkBytes: 128 * 1024})
      assert.deepEqual(server.content(state.uploadId!), bundleBytes)
      assert.ok(server.putOffsets.length < 12, `${server.putOffsets.length} PUTs`)
      assert.ok(r.bytesSent < bundleBytes.length * 2)
    })

    it('an upload the server forgot starts over; a checksum mismatch fails clearly', async () => {
      state.uploadId = 'gone'
      state.offset = 1234
      const r = await uploadBundle(server.api(), store, state, {chunkBytes: 512 * 1024})
      assert.equal(r.resumedFrom, 0)
      const bad: PendingUpload = {...state, localId: 'bad', uploadId: null, offset: 0, sha256: '0'.repeat(64)}
      await assert.rejects(uploadBundle(server.api(), store, bad, {chunkBytes: 512 * 1024}), (e: JobFailure) => e.code === 'CHECKSUM_MISMATCH')
    })
  })

  it('LogsService: collect, upload, audit locally, and leave an empty spool', async () => {
    const server = await FakeUploadServer.start()
    try {
      const config = AgentConfig.parse({version: 1, server: server.url.toString(), serial: 'SN-LOGS', logSources: [`${logs}/**/*.log`], logs: {chunkBytes: 64 * 1024}})
      const service = new LogsService({config: async () => config, files, api: () => server.api(), recorder: new EventRecorder(files)})
      const r = await service.collectAndUpload({jobId: 'job-1', since: new Date(Date.now() - DAY).toISOString()})
      assert.equal(r.files, 3)
      const upload = [...server.uploads.values()][0]
      assert.equal(upload.jobId, 'job-1')
      assert.equal(r.bundleId, upload.bundleId)
      assert.equal(sha(server.content(upload.id)), r.sha256)
      assert.deepEqual(await readdir(files.spool), [])
      const actions = (await new LocalAudit(files.audit).readAll()).map((e) => e.action)
      assert.deepEqual(actions, ['logs.collection.started', 'logs.collection.finished', 'logs.uploaded'])
    } finally {
      await server.stop()
    }
  })
})
