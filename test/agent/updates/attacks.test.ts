import {strict as assert} from 'node:assert'
import {readdir, readFile, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import nock from 'nock'
import {Metadata} from '@tufjs/models'
import {generateSigningKey, serializeMetadata, signTimestamp} from '../../../src/shared/tuf/index.js'
import {TestDevice, params} from './helpers/device.js'
import {custom} from './helpers/tuf-repo.js'

/**
 * The attack list of issue #12 against the device's update executor: a real signed repository on a
 * loopback server that misbehaves. Each attack must end refused with the code and check that names
 * it, install nothing, and (where the metadata already tells) fetch no package bytes at all.
 */
describe('software updates on the device: the attacks', function () {
  this.timeout(30_000)
  let d: TestDevice
  const pkg = Buffer.alloc(64 * 1024, 7)

  before(() => nock.restore())
  after(() => nock.activate())
  beforeEach(async () => {
    d = await TestDevice.create()
  })
  afterEach(() => d.stop())

  /** No install hook ran and installed.json is as before (absent, or the version the test put there). */
  async function assertNothingInstalled(before?: string): Promise<void> {
    assert.deepEqual((await d.hookLog()).filter((l) => l.startsWith('install')), [])
    if (before === undefined) await assert.rejects(stat(d.updates.installed), /ENOENT/)
    else assert.equal(JSON.parse(await readFile(d.updates.installed, 'utf8')).version, before)
  }

  it('installs a signed, newer package for its model (the baseline the attacks are measured against)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const {result, failure} = await d.run(params('2.0.0'))
    assert.equal(failure, undefined, failure?.message)
    assert.deepEqual(result, {installedVersion: '2.0.0', previousVersion: null})
    assert.equal(d.server.packageBytesServed, pkg.length)
  })

  for (const [who, key] of [
    ['a key of its own', () => generateSigningKey()],
    ['its online snapshot key', () => d.repo.snapshotKey],
    ['its online timestamp key', () => d.repo.timestampKey],
  ] as const) it(`arbitrary package: targets the server signed with ${who} are refused (signature)`, async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'), {signWith: key()})
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.refused, true)
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\(signature\)/)
    assert.equal(d.server.packageBytesServed, 0)
    const [step] = await d.steps()
    assert.equal(step.step, 'refused')
    assert.equal(step.check, 'signature')
    await assertNothingInstalled()
  })

  it('arbitrary package: a path the publisher never signed is refused (not-signed)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    d.repo.packages.set('2.0.0/evil.pkg', Buffer.from('evil'))
    const {failure} = await d.run(params('2.0.0', '2.0.0/evil.pkg'))
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\(not-signed\)/)
    assert.equal(d.server.packageBytesServed, 0)
    await assertNothingInstalled()
  })

  it('arbitrary package: bytes that do not match the signed hash are refused and thrown away (hash)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    d.repo.packages.set('2.0.0/analyzer-2.0.0.pkg', Buffer.alloc(pkg.length, 9))
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\(hash\)/)
    await assertNothingInstalled()
    assert.deepEqual(await readdir(d.updates.downloads), [])
  })

  it('rollback: an older, validly signed version is refused (NOT_NEWER); the same version too', async () => {
    await writeFile(d.updates.installed, JSON.stringify({version: '2.0.0'}))
    d.repo.addTarget('1.9.0/analyzer-1.9.0.pkg', pkg, custom('1.9.0'))
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    for (const v of ['1.9.0', '2.0.0']) {
      const {failure} = await d.run(params(v), {jobId: `job-${v}`})
      assert.equal(failure?.code, 'NOT_NEWER', v)
      assert.equal(failure?.refused, true)
    }
    assert.equal(d.server.packageBytesServed, 0)
    await assertNothingInstalled('2.0.0')
  })

  it('rollback: an explicit downgrade the publisher signed installs', async () => {
    await writeFile(d.updates.installed, JSON.stringify({version: '2.0.0'}))
    d.repo.addTarget('1.9.0/analyzer-1.9.0.pkg', pkg, custom('1.9.0', {downgrade: true}))
    const {result, failure} = await d.run(params('1.9.0'))
    assert.equal(failure, undefined, failure?.message)
    assert.deepEqual(result, {installedVersion: '1.9.0', previousVersion: '2.0.0'})
  })

  it('minimum version: a device below minVersion (or of unknown version) refuses (BELOW_MIN_VERSION)', async () => {
    d.repo.addTarget('3.0.0/analyzer-3.0.0.pkg', pkg, custom('3.0.0', {minVersion: '2.0.0'}))
    assert.equal((await d.run(params('3.0.0'), {jobId: 'a'})).failure?.code, 'BELOW_MIN_VERSION')
    await writeFile(d.updates.installed, JSON.stringify({version: '1.5.0'}))
    assert.equal((await d.run(params('3.0.0'), {jobId: 'b'})).failure?.code, 'BELOW_MIN_VERSION')
    await assertNothingInstalled('1.5.0')
  })

  it('indefinite freeze: an expired timestamp is refused (expired)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    d.repo.publish({timestampExpiresDays: -1})
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\(expired\)/)
    await assertNothingInstalled()
  })

  it('indefinite freeze: expired targets metadata is refused (expired)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    d.repo.publish({targetsExpiresDays: -1})
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\(expired\)/)
    await assertNothingInstalled()
  })

  it('endless data: a server sending more than the signed length is cut off at that length and refused (length)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    d.server.misbehave.extraBytes = 10 * 1024 * 1024
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\(length\)/)
    // Exactly the signed length reached the disk, not a byte more.
    const [sha] = await readdir(d.updates.downloads)
    assert.equal((await stat(join(d.updates.downloads, sha, 'analyzer-2.0.0.pkg.part'))).size, pkg.length)
    assert.ok(d.server.packageBytesServed > pkg.length)
    await assertNothingInstalled()
  })

  it('endless data in metadata: a timestamp.json larger than any real one is cut off and refused (length)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    d.server.misbehave.metadata = {'timestamp.json': Buffer.alloc(4 * 1024 * 1024, 0x20)}
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\(length\)/)
    await assertNothingInstalled()
  })

  it('mix-and-match: a snapshot that pins another targets version is refused (version)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    d.repo.publish({snapshotTargetsVersion: d.repo.targetsVersion})
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\(version\)/)
    await assertNothingInstalled()
  })

  it('mix-and-match: a timestamp that pins other snapshot bytes is refused (hash)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const timestamp = signTimestamp({version: d.repo.timestampVersion + 1, expires: new Date(Date.now() + 86_400_000), keys: [d.repo.timestampKey], snapshotVersion: d.repo.snapshotVersion, snapshotBytes: Buffer.from('other bytes')})
    d.server.misbehave.metadata = {'timestamp.json': serializeMetadata(timestamp as never)}
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\((hash|length)\)/)
    await assertNothingInstalled()
  })

  it('wrong model: a package signed for another model is refused before a byte is fetched (WRONG_MODEL)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0', {models: ['Analyzer X100']}))
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'WRONG_MODEL')
    assert.equal(d.server.packageBytesServed, 0)
    await assertNothingInstalled()
  })

  it('the job names another version than the signed target: refused (version-mismatch)', async () => {
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const {failure} = await d.run({deploymentId: 'dep-1', targetPath: '2.0.0/analyzer-2.0.0.pkg', version: '9.0.0'})
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /version-mismatch/)
  })

  it('root rotation is walked: a target signed with the new targets key installs, root.json is version 2', async () => {
    assert.equal((await d.run(params('1.0.0', '1.0.0/x.pkg'), {jobId: 'warm-up'})).failure?.code, 'VERIFY_FAILED') // trusts v1 metadata first
    d.repo.rotateRoot()
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure, undefined, failure?.message)
    const root = Metadata.fromJSON('root' as never, JSON.parse(await readFile(join(d.updates.metadata, 'root.json'), 'utf8')))
    assert.equal(root.signed.version, 2)
    assert.ok(d.server.metadataRequests.includes('2.root.json'))
  })

  it('fast-forward after key rotation: a timestamp signed with the rotated-out key (version 999) is refused (signature)', async () => {
    d.repo.addTarget('1.0.0/a.pkg', pkg, custom('1.0.0'))
    assert.equal((await d.run(params('1.0.0', '1.0.0/a.pkg'), {jobId: 'first'})).failure, undefined)
    const oldTimestampKey = d.repo.timestampKey
    d.repo.rotateRoot({timestamp: true})
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const forged = signTimestamp({version: 999, expires: new Date(Date.now() + 86_400_000), keys: [oldTimestampKey], snapshotVersion: d.repo.snapshotVersion})
    d.server.misbehave.metadata = {'timestamp.json': serializeMetadata(forged as never)}
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\(signature\)/)
  })

  it('a root the device never trusted cannot be introduced by the server (rotation signed by the new key only)', async () => {
    d.repo.addTarget('1.0.0/a.pkg', pkg, custom('1.0.0'))
    assert.equal((await d.run(params('1.0.0', '1.0.0/a.pkg'), {jobId: 'first'})).failure, undefined)
    d.repo.rotateRoot({signOldKey: false})
    d.repo.addTarget('2.0.0/analyzer-2.0.0.pkg', pkg, custom('2.0.0'))
    const {failure} = await d.run(params('2.0.0'))
    assert.equal(failure?.code, 'VERIFY_FAILED')
    assert.match(failure!.message, /\(signature\)/)
  })
})
