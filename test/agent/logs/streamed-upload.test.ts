import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {appendFile, mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import nock from 'nock'
import {AgentConfig, agentFiles, type AgentFiles} from '../../../src/agent/data-dir.js'
import {EventRecorder} from '../../../src/agent/events.js'
import type {JobFailure} from '../../../src/agent/jobs/runner.js'
import {GrowingBundle} from '../../../src/agent/logs/collect.js'
import {LogsService} from '../../../src/agent/logs/service.js'
import {streamedChunk, uploadBundle, UploadStore, type PendingUpload} from '../../../src/agent/logs/uploader.js'
import {eventually} from '../../helpers/eventually.js'
import {FakeUploadServer} from './fake-upload-server.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const KiB = 1024

/**
 * Streamed uploads: chunks leave while the bundle is still being collected, the size and
 * SHA-256 travel with the final chunk, and an interruption on either side resumes to a
 * byte-identical bundle. The collection is played by hand (a GrowingBundle fed in steps), so
 * the test decides exactly what exists when.
 */
describe('streamed log upload', function () {
  this.timeout(60_000)
  let dir: string
  let files: AgentFiles
  let server: FakeUploadServer
  let store: UploadStore

  before(() => nock.restore())
  after(() => nock.activate())
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-stream-'))
    files = agentFiles(join(dir, 'agent'))
    await mkdir(files.spool, {recursive: true})
    server = await FakeUploadServer.start()
    store = new UploadStore(files.spool)
  })
  afterEach(async () => {
    await server.stop()
    await rm(dir, {recursive: true, force: true})
  })

  /** A spool entry and its growing file, as LogsService starts them. */
  const streamed = async (localId: string): Promise<{state: PendingUpload; source: GrowingBundle; feed(b: Buffer): Promise<void>}> => {
    const file = join(files.spool, `bundle-${localId}.tar.zst`)
    await writeFile(file, '')
    const source = new GrowingBundle(localId, file, 1, 0)
    const state: PendingUpload = {localId, file, size: null, sha256: null, format: 'tar.zst', streamed: true, uploadId: null, offset: 0, pid: process.pid, createdAt: new Date().toISOString()}
    await store.save(state)
    return {state, source, feed: async (b) => {
      await appendFile(file, b)
      source.grew(b.length)
    }}
  }

  it('sends chunks while the collection runs and declares size and SHA-256 on the final chunk only', async () => {
    const bundle = randomBytes(1_000_000 + 7)
    const {state, source, feed} = await streamed('s1')
    const uploading = uploadBundle(server.api(), store, state, {chunkBytes: 256 * KiB, source})
    await feed(bundle.subarray(0, 700_000))
    // What is ready leaves before the collection ends, in one chunk, all but the last byte.
    await eventually(async () => server.puts.length >= 1, 'a chunk sent while collecting')
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(server.puts, [{offset: 0, length: 699_999, final: false}])
    const [upload] = server.uploads.values()
    assert.equal(upload.size, null, 'no size declared up front')
    assert.equal(upload.format, 'tar.zst')
    await feed(bundle.subarray(700_000))
    source.finish({size: bundle.length, sha256: sha(bundle)}, null)
    const r = await uploading
    assert.ok(server.content(upload.id).equals(bundle))
    // The fake keeps whole 64 KiB segments: 655,360 of the first chunk, then the rest in chunkBytes.
    assert.deepEqual(server.putOffsets, [0, 655_360, 655_360 + 256 * KiB])
    assert.deepEqual(server.finalChunks, [655_360 + 256 * KiB])
    assert.deepEqual({size: r.size, sha256: r.sha256}, {size: bundle.length, sha256: sha(bundle)})
  })

  it('never sends a non-final chunk that ends at the last byte written so far (the final chunk must carry one)', async () => {
    const bundle = randomBytes(512 * KiB)
    const {state, source, feed} = await streamed('s2')
    const uploading = uploadBundle(server.api(), store, state, {chunkBytes: 256 * KiB, source})
    await feed(bundle)
    await eventually(async () => server.puts.length >= 1, 'the first chunk')
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(server.puts, [{offset: 0, length: 512 * KiB - 1, final: false}], 'the last byte written is kept back')
    source.finish({size: bundle.length, sha256: sha(bundle)}, null)
    await uploading
    assert.deepEqual(server.finalChunks, [448 * KiB])
    assert.ok(server.puts.every((p) => p.final || p.offset + p.length < bundle.length), JSON.stringify(server.puts))
    assert.ok(server.content([...server.uploads.keys()][0]).equals(bundle))
  })

  it('the server dies mid-chunk while streaming: resumes from the committed offset, byte-identical', async () => {
    const bundle = randomBytes(1_200_000)
    const {state, source, feed} = await streamed('s3')
    server.dropAtByte = 400_000
    const uploading = uploadBundle(server.api(), store, state, {chunkBytes: 256 * KiB, source, retryBaseMs: 20})
    await feed(bundle.subarray(0, 900_000))
    await new Promise((r) => setTimeout(r, 50))
    await feed(bundle.subarray(900_000))
    source.finish({size: bundle.length, sha256: sha(bundle)}, null)
    const r = await uploading
    assert.ok(server.content(state.uploadId!).equals(bundle))
    assert.ok(!server.putOffsets.slice(1).includes(0), `never restarted from 0: ${server.putOffsets.join(',')}`)
    // At most the interrupted chunk (all that was ready: 900,000 bytes less one) again; a restart from 0 would be 2.1 MB.
    assert.ok(r.bytesSent < bundle.length + 900_000, `sent ${r.bytesSent}`)
  })

  it('the agent dies mid-upload after the collection ended: a new process resumes from the spool, byte-identical', async () => {
    const bundle = randomBytes(1_000_000)
    const {state, source, feed} = await streamed('s4')
    await feed(bundle)
    source.finish({size: bundle.length, sha256: sha(bundle)}, null)
    const controller = new AbortController()
    await assert.rejects(uploadBundle(server.api(), store, state, {chunkBytes: 256 * KiB, source, signal: controller.signal, onProgress: (done) => done >= 512 * KiB && controller.abort()}))
    const [saved] = await store.list()
    assert.deepEqual({offset: saved.offset, size: saved.size, streamed: saved.streamed}, {offset: 512 * KiB, size: bundle.length, streamed: true})
    const r = await uploadBundle(server.api(), store, saved, {chunkBytes: 256 * KiB})
    assert.equal(r.resumedFrom, 512 * KiB)
    assert.ok(server.content(saved.uploadId!).equals(bundle))
    assert.deepEqual(server.finalChunks, [768 * KiB])
  })

  it('sizes streamed chunks by what is ready: whole segments, up to the server\'s limit', () => {
    const MiB = 1024 * KiB
    assert.equal(streamedChunk(5 * MiB + 10, 8 * MiB), 5 * MiB)
    assert.equal(streamedChunk(40 * MiB, 8 * MiB), 16 * MiB)
    assert.equal(streamedChunk(700_000, 256 * KiB), 700_000)
    assert.equal(streamedChunk(MiB, 8 * MiB), MiB)
  })

  it('a collection cut short by a killed agent is dropped on restart, and the re-pushed job collects again', async () => {
    const logs = join(dir, 'logs')
    await mkdir(logs)
    await writeFile(join(logs, 'a.log'), randomBytes(200_000))
    const config = AgentConfig.parse({version: 1, server: server.url.toString(), serial: 'SN-S', logSources: [`${logs}/*.log`], logs: {chunkBytes: 64 * KiB}})
    const service = new LogsService({config: async () => config, files, api: () => server.api(), recorder: new EventRecorder(files), retryBaseMs: 20})
    // What a process killed mid-collection leaves: a half-written bundle, no size, a dead pid.
    const {state} = await streamed('dead')
    await appendFile(state.file, randomBytes(1000))
    state.jobId = 'job-9'
    state.uploadId = 'half'
    state.pid = 2 ** 22 + 12_345
    await store.save(state)
    const finished: string[] = []
    assert.equal(await service.resumeOrphans((jobId) => finished.push(jobId)), 0)
    assert.deepEqual(finished, [], 'nothing to resume: the job is not reported done')
    assert.deepEqual(await readdir(files.spool), [])
    const r = await service.collectAndUpload({jobId: 'job-9'})
    assert.equal(sha(server.content([...server.uploads.values()].find((u) => u.bundleId === r.bundleId)!.id)), r.sha256)
    assert.deepEqual(await readdir(files.spool), [])
  })

  it('a collection that fails mid-stream fails the job and leaves an empty spool', async () => {
    const logs = join(dir, 'logs')
    await mkdir(logs)
    await writeFile(join(logs, 'a.log'), randomBytes(3_000_000))
    const config = AgentConfig.parse({version: 1, server: server.url.toString(), serial: 'SN-S', logSources: [`${logs}/*.log`], logs: {chunkBytes: 64 * KiB, maxBundleBytes: 1_000_000}})
    const service = new LogsService({config: async () => config, files, api: () => server.api(), recorder: new EventRecorder(files)})
    await assert.rejects(service.collectAndUpload({jobId: 'job-big'}), (e: JobFailure) => e.code === 'BUNDLE_TOO_LARGE')
    assert.deepEqual(await readdir(files.spool), [])
    assert.ok(![...server.uploads.values()].some((u) => u.bundleId), 'nothing completed')
  })
})
