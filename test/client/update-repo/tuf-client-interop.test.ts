import {strict as assert} from 'node:assert'
import {copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Updater} from 'tuf-js'
import {addTarget} from '../../../src/client/update-repo/add-target.js'
import {initRepo} from '../../../src/client/update-repo/init.js'
import {repoPaths} from '../../../src/client/update-repo/layout.js'
import {rotateRoot} from '../../../src/client/update-repo/rotate-root.js'
import {parseMetadata, readKeyFile, serializeMetadata, signMetadata, signSnapshot, signTimestamp} from '../../../src/shared/tuf/index.js'

const DAY = 86_400_000

/**
 * Interop: the real TUF client (tuf-js, what the agent uses) accepts a repository made by
 * `updates repo init|add|rotate-root` plus snapshot/timestamp from `signSnapshot`/`signTimestamp`,
 * served over loopback HTTP the way the server lays it out (metadata/<role>.json, targets/<path>).
 */
describe('tuf-js Updater against a repository made by the release tooling', () => {
  let tmp: string
  let dir: string
  let server: Server
  let base: string
  /** URL path → bytes: what the fake server serves (tests override entries to attack the client). */
  const files = new Map<string, Buffer>()

  before(async () => {
    server = createServer((req, res) => {
      const body = files.get(req.url ?? '')
      if (!body) return void res.writeHead(404).end()
      res.writeHead(200, {'content-length': body.length}).end(body)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  beforeEach(async () => {
    files.clear()
    tmp = await mkdtemp(join(tmpdir(), 'tether-tuf-interop-'))
    dir = join(tmp, 'repo')
    await initRepo({dir, threshold: 2, keys: 3, rootExpiresMs: 365 * DAY, targetsExpiresMs: 90 * DAY})
    await writeFile(join(tmp, 'analyzer.tgz'), 'the package bytes')
    await addTarget({dir, packagePath: join(tmp, 'analyzer.tgz'), version: '2.4.1', models: ['Analyzer X200'], expiresMs: 90 * DAY})
  })
  afterEach(() => rm(tmp, {recursive: true, force: true}))

  /** What the server does after a publish: serve the offline metadata and packages, sign snapshot and timestamp online. */
  async function serveRepo(targetsBytes?: Buffer): Promise<void> {
    const paths = repoPaths(dir)
    for (const name of await readdir(paths.metadata)) files.set(`/metadata/${name}`, await readFile(join(paths.metadata, name)))
    files.set('/targets/2.4.1/analyzer.tgz', await readFile(join(paths.targets, '2.4.1', 'analyzer.tgz')))
    const targets = targetsBytes ?? files.get('/metadata/targets.json')!
    files.set('/metadata/targets.json', targets)
    const targetsVersion = (JSON.parse(targets.toString()) as {signed: {version: number}}).signed.version
    const expires = new Date(Date.now() + DAY)
    const snapshot = signSnapshot({version: 1, expires, keys: [await readKeyFile(join(paths.onlineKeys, 'snapshot.key'))], targetsVersion, targetsBytes: targets})
    const snapshotBytes = serializeMetadata(snapshot)
    files.set('/metadata/snapshot.json', snapshotBytes)
    const timestamp = signTimestamp({version: 1, expires, keys: [await readKeyFile(join(paths.onlineKeys, 'timestamp.key'))], snapshotVersion: 1, snapshotBytes})
    files.set('/metadata/timestamp.json', serializeMetadata(timestamp))
  }

  /** A device that trusts root version 1 (baked into its image). */
  async function device(): Promise<{updater: Updater; metadataDir: string; targetDir: string}> {
    const metadataDir = join(tmp, 'device', 'metadata')
    const targetDir = join(tmp, 'device', 'targets')
    await mkdir(metadataDir, {recursive: true})
    await mkdir(targetDir, {recursive: true})
    await copyFile(join(dir, 'metadata', '1.root.json'), join(metadataDir, 'root.json'))
    const updater = new Updater({metadataDir, targetDir, metadataBaseUrl: `${base}/metadata`, targetBaseUrl: `${base}/targets`, config: {fetchRetry: 0}})
    return {updater, metadataDir, targetDir}
  }

  it('refreshes, finds the target with its signed custom metadata, and downloads the verified package', async () => {
    await serveRepo()
    const {updater, targetDir} = await device()
    await updater.refresh()
    const info = await updater.getTargetInfo('2.4.1/analyzer.tgz')
    assert.ok(info, 'the target is in the signed targets.json')
    assert.deepEqual(info.custom.tether, {version: '2.4.1', models: ['Analyzer X200']})
    const file = await updater.downloadTarget(info, join(targetDir, 'analyzer.tgz'))
    assert.equal(await readFile(file, 'utf8'), 'the package bytes')
  })

  it('walks a root rotation (1 → 2 with new root keys) and persists root 2', async () => {
    await rotateRoot({dir, newKeys: 3, threshold: 2, expiresMs: 365 * DAY})
    await serveRepo()
    const {updater, metadataDir} = await device()
    await updater.refresh()
    const trusted = parseMetadata('root', JSON.parse(await readFile(join(metadataDir, 'root.json'), 'utf8')))
    assert.equal(trusted.signed.version, 2)
    assert.ok(await updater.getTargetInfo('2.4.1/analyzer.tgz'))
  })

  it('refuses a root 2 signed only by new keys', async () => {
    await rotateRoot({dir, newKeys: 3, threshold: 2, expiresMs: 365 * DAY})
    await serveRepo()
    const root2 = parseMetadata('root', JSON.parse(files.get('/metadata/2.root.json')!.toString()))
    root2.signatures = {}
    const newKeys = await Promise.all(['root-1', 'root-2', 'root-3'].map((n) => readKeyFile(join(dir, 'keys', `${n}.key`))))
    signMetadata(root2, newKeys)
    files.set('/metadata/2.root.json', serializeMetadata(root2))
    const {updater} = await device()
    await assert.rejects(updater.refresh(), /root was signed by 0\/2 keys/)
  })

  it('refuses a targets.json changed after the targets keys signed it (even with a matching snapshot)', async () => {
    const json = JSON.parse(await readFile(join(dir, 'metadata', 'targets.json'), 'utf8')) as {signed: {targets: Record<string, {custom: {tether: {models: string[]}}}>}}
    json.signed.targets['2.4.1/analyzer.tgz'].custom.tether.models = ['Some Other Model']
    await serveRepo(Buffer.from(JSON.stringify(json)))
    const {updater} = await device()
    await assert.rejects(updater.refresh(), /targets was signed by 0\/2 keys/)
  })

  it('refuses a package whose bytes differ from the signed hashes', async () => {
    await serveRepo()
    files.set('/targets/2.4.1/analyzer.tgz', Buffer.from('the package bytez'))
    const {updater, targetDir} = await device()
    await updater.refresh()
    const info = await updater.getTargetInfo('2.4.1/analyzer.tgz')
    await assert.rejects(updater.downloadTarget(info!, join(targetDir, 'analyzer.tgz')), /hash/i)
  })
})
