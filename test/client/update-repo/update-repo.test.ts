import {strict as assert} from 'node:assert'
import {mkdtemp, readdir, readFile, rm, stat, unlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {addTarget, type AddTargetOptions} from '../../../src/client/update-repo/add-target.js'
import {initRepo, type InitRepoOptions} from '../../../src/client/update-repo/init.js'
import {repoPaths} from '../../../src/client/update-repo/layout.js'
import {rotateRoot} from '../../../src/client/update-repo/rotate-root.js'
import {generateSigningKey, publicKeyEntry, readMetadataFile, verifyPublishedRepo} from '../../../src/shared/tuf/index.js'

const DAY = 86_400_000

describe('update repository on the release machine: init, add, rotate-root', () => {
  let tmp: string
  let dir: string
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tether-update-repo-'))
    dir = join(tmp, 'repo')
  })
  afterEach(() => rm(tmp, {recursive: true, force: true}))

  const init = (extra: Partial<InitRepoOptions> = {}) => initRepo({dir, threshold: 2, keys: 3, rootExpiresMs: 365 * DAY, targetsExpiresMs: 90 * DAY, ...extra})
  async function pkg(name = 'analyzer.tgz', body = 'package bytes'): Promise<string> {
    const file = join(tmp, name)
    await writeFile(file, body)
    return file
  }
  const add = async (extra: Partial<AddTargetOptions> = {}) =>
    addTarget({dir, packagePath: extra.packagePath ?? (await pkg()), version: '2.4.1', models: ['Analyzer X200'], expiresMs: 90 * DAY, ...extra})
  const published = async (trustedRootFile = '1.root.json') => {
    const paths = repoPaths(dir)
    const json = async (file: string) => JSON.parse(await readFile(join(paths.metadata, file), 'utf8'))
    const files = await readdir(paths.metadata)
    const trusted = Number(trustedRootFile.split('.')[0])
    const newRoots = files.map((f) => /^(\d+)\.root\.json$/.exec(f)).filter((m) => m !== null && Number(m[1]) > trusted).map((m) => m![0]).sort((a, b) => parseInt(a) - parseInt(b))
    return verifyPublishedRepo({trustedRoot: await json(trustedRootFile), newRoots: await Promise.all(newRoots.map(json)), targets: await json('targets.json')})
  }

  describe('init', () => {
    it('writes 0600 key files in a 0700 keys/ and a root naming 2-of-3 root and targets keys', async () => {
      const result = await init()
      const paths = repoPaths(dir)
      assert.equal((await stat(paths.keys)).mode & 0o777, 0o700)
      for (const file of result.keyFiles) assert.equal((await stat(file)).mode & 0o777, 0o600, file)
      assert.equal(result.keyFiles.length, 3 + 3 + 2)
      const root = await readMetadataFile('root', paths.root)
      assert.equal(root.signed.version, 1)
      assert.equal(root.signed.consistentSnapshot, false)
      assert.deepEqual(root.signed.roles.root.keyIDs, result.rootKeyIds)
      assert.equal(root.signed.roles.targets.threshold, 2)
      assert.equal(result.onlineKeys.source, 'generated')
      assert.deepEqual(await readFile(paths.versionedRoot(1)), await readFile(paths.root))
      const repo = await published()
      assert.equal(repo.targetList.length, 0)
    })

    it('names the server\'s online keys from --online-keys, and generates none', async () => {
      const snapshot = generateSigningKey()
      const timestamp = generateSigningKey()
      const file = join(tmp, 'online-keys.json')
      await writeFile(file, JSON.stringify({snapshot: [publicKeyEntry(snapshot)], timestamp: [publicKeyEntry(timestamp)]}))
      const result = await init({onlineKeysFile: file})
      const root = await readMetadataFile('root', repoPaths(dir).root)
      assert.deepEqual(root.signed.roles.snapshot.keyIDs, [snapshot.keyId])
      assert.deepEqual(root.signed.roles.timestamp.keyIDs, [timestamp.keyId])
      assert.equal(result.onlineKeys.source, 'file')
      await assert.rejects(stat(repoPaths(dir).onlineKeys), {code: 'ENOENT'})
    })

    it('refuses an --online-keys file that is not the format or whose key id is wrong, before writing anything', async () => {
      const file = join(tmp, 'online-keys.json')
      await writeFile(file, JSON.stringify({snapshot: []}))
      await assert.rejects(init({onlineKeysFile: file}), /--online-keys .*snapshot/)
      const a = publicKeyEntry(generateSigningKey())
      await writeFile(file, JSON.stringify({snapshot: [{...a, keyid: publicKeyEntry(generateSigningKey()).keyid}], timestamp: [a]}))
      await assert.rejects(init({onlineKeysFile: file}), /snapshot\.0\.keyid does not match/)
      await assert.rejects(stat(dir), {code: 'ENOENT'})
    })

    it('refuses a threshold above the key count and an existing repository', async () => {
      await assert.rejects(init({threshold: 4}), (e: Error & {exitCode: number}) => e.exitCode === 2 && /--threshold 4/.test(e.message))
      await init()
      await assert.rejects(init(), /--dir .*already holds a repository/)
    })
  })

  describe('add', () => {
    it('adds the package with length, sha256, sha512 and custom.tether, and signs targets version 2', async () => {
      await init()
      const result = await add({minVersion: '2.0.0', hooks: {install: 'main'}, models: ['Analyzer X200', 'Analyzer X300']})
      assert.equal(result.path, '2.4.1/analyzer.tgz')
      assert.equal(await readFile(join(dir, 'targets', '2.4.1', 'analyzer.tgz'), 'utf8'), 'package bytes')
      const repo = await published()
      assert.equal(repo.targets.signed.version, 2)
      const [target] = repo.targetList
      assert.equal(target.length, 13)
      assert.deepEqual(Object.keys(target.hashes).sort(), ['sha256', 'sha512'])
      assert.deepEqual(target.custom, {version: '2.4.1', models: ['Analyzer X200', 'Analyzer X300'], minVersion: '2.0.0', hooks: {install: 'main'}})
    })

    it('refuses an equal or lower version for the same model unless --downgrade, and allows another model', async () => {
      await init()
      await add()
      await assert.rejects(add({version: '2.4.0', packagePath: await pkg('b.tgz')}), (e: Error & {exitCode: number}) => e.exitCode === 2 && /--version 2\.4\.0: not newer than 2\.4\.1.*"Analyzer X200"/.test(e.message))
      await assert.rejects(add({packagePath: await pkg('c.tgz')}), /not newer than 2\.4\.1/)
      await assert.rejects(add(), /already in targets\.json/)
      const other = await add({version: '2.4.0', models: ['Analyzer X100'], packagePath: await pkg('d.tgz')})
      assert.equal(other.targetsVersion, 3)
      const down = await add({version: '2.3.9', downgrade: true, packagePath: await pkg('e.tgz')})
      assert.equal(down.custom.downgrade, true)
      assert.equal((await published()).targetList.length, 3)
    })

    it('refuses bad semver, a missing file and an unsafe file name, naming the flag or PACKAGE, and writes nothing', async () => {
      await init()
      await assert.rejects(add({version: '2.4'}), /--version 2\.4: not a semantic version/)
      await assert.rejects(add({minVersion: 'two'}), /--min-version two/)
      await assert.rejects(add({models: []}), /--model/)
      await assert.rejects(add({packagePath: join(tmp, 'missing.tgz')}), /PACKAGE .*missing\.tgz: not found/)
      await assert.rejects(add({packagePath: await pkg('has space.tgz')}), /PACKAGE .*file name/)
      await assert.rejects(add({hooks: {install: 'x'.repeat(65)}}), /--install-hook/)
      assert.deepEqual(await readdir(join(dir, 'targets')), [])
      assert.equal((await readMetadataFile('targets', repoPaths(dir).targetsJson)).signed.version, 1)
    })

    it('refuses to sign with fewer targets keys than the threshold', async () => {
      await init()
      await unlink(join(dir, 'keys', 'targets-1.key'))
      await add({packagePath: await pkg('a.tgz')})
      await unlink(join(dir, 'keys', 'targets-2.key'))
      await assert.rejects(add({version: '2.5.0', packagePath: await pkg('b.tgz')}), (e: Error & {code: string}) => e.code === 'KEY_UNAVAILABLE' && /only 1 of the 2 targets keys/.test(e.message))
    })
  })

  describe('rotate-root', () => {
    it('signs root 2 with the old and new thresholds; a device trusting root 1 walks to it', async () => {
      await init()
      const result = await rotateRoot({dir, newKeys: 2, threshold: 2, expiresMs: 365 * DAY})
      assert.equal(result.rootVersion, 2)
      assert.equal(result.retiredKeyFiles.length, 3)
      for (const file of [...result.newKeyFiles, ...result.retiredKeyFiles]) assert.equal((await stat(file)).mode & 0o777, 0o600, file)
      const root2 = await readMetadataFile('root', repoPaths(dir).root)
      assert.equal(root2.signed.version, 2)
      assert.equal(Object.keys(root2.signatures).length, 3 + 2)
      await add()
      const repo = await published('1.root.json')
      assert.equal(repo.root.signed.version, 2)

      // And again: root 3 needs root 2's keys only (root 1's are retired and no longer named).
      await rotateRoot({dir, newKeys: 3, threshold: 2, expiresMs: 365 * DAY})
      assert.equal((await published('1.root.json')).root.signed.version, 3)
      assert.equal((await published('2.root.json')).newRoots.length, 1)
    })

    it('changes the online keys and keeps the root keys when --new-keys is absent', async () => {
      const init1 = await init()
      const online = {snapshot: [publicKeyEntry(generateSigningKey())], timestamp: [publicKeyEntry(generateSigningKey())]}
      await writeFile(join(tmp, 'online.json'), JSON.stringify(online))
      const result = await rotateRoot({dir, onlineKeysFile: join(tmp, 'online.json'), expiresMs: 30 * DAY})
      assert.deepEqual(result.rootKeyIds, init1.rootKeyIds)
      const root2 = await readMetadataFile('root', repoPaths(dir).root)
      assert.deepEqual(root2.signed.roles.snapshot.keyIDs, [online.snapshot[0].keyid])
      assert.equal((await published()).root.signed.version, 2)
    })

    it('refuses when fewer root keys than the old threshold are available, changing nothing', async () => {
      await init()
      await unlink(join(dir, 'keys', 'root-1.key'))
      await unlink(join(dir, 'keys', 'root-2.key'))
      await assert.rejects(rotateRoot({dir, newKeys: 3, expiresMs: 365 * DAY}), /only 1 of the 2 root keys/)
      assert.deepEqual((await readdir(join(dir, 'metadata'))).sort(), ['1.root.json', 'root.json', 'targets.json'])
      assert.deepEqual((await readdir(join(dir, 'keys'))).filter((f) => f.startsWith('root')), ['root-3.key'])
    })
  })
})
