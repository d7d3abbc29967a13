import {strict as assert} from 'node:assert'
import {randomBytes} from 'node:crypto'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {BaseFetcher, Updater} from 'tuf-js'
// Not re-exported by tuf-js: the error its root walk reads a 404 from ("no newer root").
import {DownloadHTTPError} from 'tuf-js/dist/error.js'
import {Agent, request} from 'undici'
import {readRepoMetadata} from '../../../src/client/updates-publish.js'
import {AGENT_UPDATES_METADATA_PATH, AGENT_UPDATES_TARGETS_PATH} from '../../../src/protocol/updates/index.js'
import {type AuditedWork, publishDirect} from './publish-direct.js'
import {DB_KINDS} from '../helpers/database.js'
import {type HubFixture, startHubFixture} from '../hub/server-fixture.js'
import {makeRepo, type RepoFixture} from './repo-fixture.js'

/** tuf-js fetching over the device's mTLS connection, as the agent does. */
class DeviceFetcher extends BaseFetcher {
  constructor(private readonly dispatcher: Agent) {
    super()
  }
  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const res = await request(url, {dispatcher: this.dispatcher})
    if (res.statusCode !== 200) {
      await res.body.dump()
      throw new DownloadHTTPError(`${url}: ${res.statusCode}`, res.statusCode)
    }
    return Readable.toWeb(res.body) as unknown as ReadableStream<Uint8Array<ArrayBuffer>>
  }
}

for (const kind of DB_KINDS) {
  describe(`updates: agent routes over mTLS, and tuf-js against them (${kind})`, function () {
    this.timeout(30_000)
    let fx: HubFixture
    let repo: RepoFixture
    let dispatcher: Agent
    let work: string
    const pkg = randomBytes(300_000)
    let path: string

    before(async () => {
      fx = await startHubFixture(kind)
      const device = await fx.issue('SN-UPD')
      dispatcher = new Agent({connect: {ca: fx.serverCaPem, cert: device.certPem, key: device.keyPem}})
      repo = await makeRepo(fx.server.app.updates.onlinePublicKeys())
      path = (await repo.add('2.4.1', pkg)).path
      const audited: AuditedWork = (fn) => fx.server.app.audit.transaction((trx, record) => fn(trx, (input) => record({actorType: 'user', actor: 'rel', ...input})))
      await publishDirect(fx.server.app, 'rel', await readRepoMetadata(repo.dir), {[path]: pkg}, audited)
      work = await mkdtemp(join(tmpdir(), 'tether-tufjs-'))
    })
    after(async () => {
      await dispatcher?.close()
      await repo?.close()
      if (fx) await fx.close()
      if (work) await rm(work, {recursive: true, force: true})
    })

    const get = (url: string, headers: Record<string, string> = {}, using: Agent = dispatcher) => request(`${fx.server.url}${url}`, {dispatcher: using, headers})

    it('serves a package from an offset: Range bytes=N- is a 206 with Content-Range and exactly the bytes from N', async () => {
      const from = 123_457
      const res = await get(`${AGENT_UPDATES_TARGETS_PATH}/${path}`, {range: `bytes=${from}-`})
      assert.equal(res.statusCode, 206)
      assert.equal(res.headers['content-range'], `bytes ${from}-${pkg.length - 1}/${pkg.length}`)
      assert.ok(Buffer.from(await res.body.arrayBuffer()).equals(pkg.subarray(from)))
      const whole = await get(`${AGENT_UPDATES_TARGETS_PATH}/${path}`)
      assert.equal(whole.statusCode, 200)
      assert.ok(Buffer.from(await whole.body.arrayBuffer()).equals(pkg))
      const past = await get(`${AGENT_UPDATES_TARGETS_PATH}/${path}`, {range: `bytes=${pkg.length}-`})
      assert.equal(past.statusCode, 416)
      assert.equal(past.headers['content-range'], `bytes */${pkg.length}`)
      await past.body.dump()
    })

    it('refuses a request without a device certificate (401) and an unpublished path (404)', async () => {
      const anonymous = new Agent({connect: {ca: fx.serverCaPem}})
      try {
        const res = await get(`${AGENT_UPDATES_METADATA_PATH}/timestamp.json`, {}, anonymous)
        assert.equal(res.statusCode, 401)
        await res.body.dump()
      } finally {
        await anonymous.close()
      }
      const missing = await get(`${AGENT_UPDATES_TARGETS_PATH}/9.9.9/nothing.bin`)
      assert.equal(missing.statusCode, 404)
      await missing.body.dump()
    })

    it('tuf-js (Updater) walks root, timestamp, snapshot and targets and downloads the verified package', async () => {
      const metadataDir = join(work, 'metadata')
      const targetDir = join(work, 'targets')
      await import('node:fs/promises').then((fs) => Promise.all([fs.mkdir(metadataDir), fs.mkdir(targetDir)]))
      // The device's trusted root: 1.root.json, as baked into its image.
      await writeFile(join(metadataDir, 'root.json'), await readFile(join(repo.dir, 'metadata', '1.root.json')))
      const updater = new Updater({
        metadataDir,
        targetDir,
        metadataBaseUrl: `${fx.server.url}${AGENT_UPDATES_METADATA_PATH}`,
        targetBaseUrl: `${fx.server.url}${AGENT_UPDATES_TARGETS_PATH}`,
        fetcher: new DeviceFetcher(dispatcher),
      })
      await updater.refresh()
      const info = await updater.getTargetInfo(path)
      assert.ok(info, 'the target is in the verified targets.json')
      assert.deepEqual((info.custom as {tether: {version: string}}).tether.version, '2.4.1')
      const file = await updater.downloadTarget(info, join(targetDir, 'pkg.bin'))
      assert.ok((await readFile(file)).equals(pkg))
    })
  })
}
