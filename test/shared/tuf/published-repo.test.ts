import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {TargetFile} from '@tufjs/models'
import {signMetadata, type TufCheck, TufMetadataError, verifyPublishedRepo, verifyTargetFile} from '../../../src/shared/tuf/index.js'
import {asJson, DAY, fixtureKeys, signedRoot, signedTargets, targetFile, unsignedRoot} from './tuf-fixture.js'

function refusedWith(check: TufCheck, role?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof TufMetadataError, `expected a TufMetadataError, got ${String(error)}`)
    assert.equal(error.check, check, error.message)
    assert.equal(error.code, 'TUF_METADATA_INVALID')
    if (role) assert.match(error.role, role)
    return true
  }
}

describe('verifyPublishedRepo: what the server checks before it accepts a publish', () => {
  const keys = fixtureKeys()
  const root1 = signedRoot(keys)

  it('accepts targets signed by 2 of 3 targets keys and returns the typed targets', () => {
    const result = verifyPublishedRepo({trustedRoot: asJson(root1), targets: asJson(signedTargets(keys.targets.slice(1)))})
    assert.equal(result.root.signed.version, 1)
    assert.equal(result.targets.signed.version, 2)
    assert.deepEqual(result.targetList.map((t) => [t.path, t.custom.version, t.custom.models]), [['2.4.1/analyzer.tgz', '2.4.1', ['Analyzer X200']]])
  })

  it('refuses targets signed by 1 of the 3 keys (threshold 2)', () => {
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: asJson(signedTargets(keys.targets.slice(0, 1)))}), refusedWith('threshold', /^targets\.json$/))
  })

  it('refuses targets signed by 2 keys root does not name for targets (root keys, say)', () => {
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: asJson(signedTargets(keys.root.slice(0, 2)))}), refusedWith('threshold'))
  })

  it('refuses a tampered targets.json (a hash changed after signing)', () => {
    const json = asJson(signedTargets(keys.targets)) as {signed: {targets: Record<string, {hashes: {sha256: string}}>}}
    json.signed.targets['2.4.1/analyzer.tgz'].hashes.sha256 = 'b'.repeat(64)
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: json}), refusedWith('threshold'))
  })

  it('refuses a trusted root that its own threshold did not sign', () => {
    assert.throws(() => verifyPublishedRepo({trustedRoot: signedRoot(keys, keys.root.slice(0, 1)), targets: asJson(signedTargets(keys.targets))}), refusedWith('threshold', /1\.root\.json/))
  })

  it('refuses a target without custom.tether, or with an invalid one, naming the field', () => {
    const without = signedTargets(keys.targets, {targets: [targetFile('2.4.1/a.tgz', null)]})
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: asJson(without)}), refusedWith('target-custom', /targets\[2\.4\.1\/a\.tgz\]/))
    const badVersion = signedTargets(keys.targets, {targets: [targetFile('2.4.1/a.tgz', {tether: {version: '2.4', models: ['X']}})]})
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: asJson(badVersion)}), (e: Error) => refusedWith('target-custom')(e) && /custom\.tether\.version/.test(e.message))
    const noModels = signedTargets(keys.targets, {targets: [targetFile('2.4.1/a.tgz', {tether: {version: '2.4.1', models: []}})]})
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: asJson(noModels)}), refusedWith('target-custom'))
    const elsewhere = signedTargets(keys.targets, {targets: [targetFile('2.5.0/a.tgz')]})
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: asJson(elsewhere)}), refusedWith('target-custom'))
  })

  it('refuses a target path the server could not store safely', () => {
    for (const path of ['../../etc/passwd', '2.4.1/../x', '2.4.1/a b.tgz', 'a.tgz', '2.4.1/sub/a.tgz']) {
      const targets = signedTargets(keys.targets, {targets: [targetFile(path)]})
      assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: asJson(targets)}), refusedWith('malformed'), path)
    }
  })

  it('refuses expired targets, and an expired newest root', () => {
    const expired = signedTargets(keys.targets, {expires: new Date(Date.now() - 1000)})
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: asJson(expired)}), refusedWith('expired', /targets\.json/))
    const later = new Date(Date.now() + 400 * DAY)
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: asJson(signedTargets(keys.targets)), now: later}), refusedWith('expired', /1\.root\.json/))
  })

  it('refuses a targets.json not newer than the accepted one (rollback or replay)', () => {
    const targets = asJson(signedTargets(keys.targets, {version: 3}))
    assert.equal(verifyPublishedRepo({trustedRoot: root1, targets, currentTargetsVersion: 2}).targets.signed.version, 3)
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets, currentTargetsVersion: 3}), refusedWith('targets-version'))
  })

  it('refuses a root that does not name the checker\'s own online keys', () => {
    const targets = asJson(signedTargets(keys.targets))
    const own = {snapshot: [keys.snapshot[0].keyId], timestamp: [keys.timestamp[0].keyId]}
    assert.equal(verifyPublishedRepo({trustedRoot: root1, targets, onlineKeyIds: own}).root.signed.version, 1)
    const other = {...own, timestamp: [fixtureKeys().timestamp[0].keyId]}
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets, onlineKeyIds: other}), (e: Error) => refusedWith('online-keys')(e) && /timestamp keys/.test(e.message))
  })

  it('refuses malformed documents with a typed error, never a TypeError', () => {
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: 'nope'}), refusedWith('malformed'))
    assert.throws(() => verifyPublishedRepo({trustedRoot: root1, targets: asJson(root1)}), refusedWith('malformed'))
    assert.throws(() => verifyPublishedRepo({trustedRoot: {signed: {}}, targets: {}}), refusedWith('malformed'))
  })

  describe('root rotation', () => {
    const newKeys = {...fixtureKeys(), targets: fixtureKeys().targets}
    function root2(signers = [...keys.root.slice(0, 2), ...newKeys.root.slice(0, 2)], version = 2) {
      const root = unsignedRoot(newKeys, version)
      signMetadata(root, signers)
      return root
    }

    it('walks 1 → 2 → 3, each signed by the previous and its own threshold, and checks targets against the newest root', () => {
      const r2 = root2()
      const keys3 = fixtureKeys()
      const r3 = unsignedRoot(keys3, 3)
      signMetadata(r3, [...newKeys.root.slice(1), ...keys3.root.slice(0, 2)])
      const targets = asJson(signedTargets(keys3.targets))
      const result = verifyPublishedRepo({trustedRoot: asJson(root1), newRoots: [asJson(r2), asJson(r3)], targets})
      assert.equal(result.root.signed.version, 3)
      assert.deepEqual(result.newRoots.map((r) => r.signed.version), [2, 3])
      // The old targets keys no longer count once root 3 replaced them.
      assert.throws(() => verifyPublishedRepo({trustedRoot: root1, newRoots: [asJson(r2), asJson(r3)], targets: asJson(signedTargets(keys.targets))}), refusedWith('threshold', /targets/))
    })

    it('refuses a new root signed only by its new keys (the old threshold did not agree)', () => {
      const r2 = root2(newKeys.root)
      assert.throws(() => verifyPublishedRepo({trustedRoot: root1, newRoots: [asJson(r2)], targets: asJson(signedTargets(newKeys.targets))}), refusedWith('threshold', /2\.root\.json \(by the keys of root 1\)/))
    })

    it('refuses a new root signed by one old key only, and one signed only by the old keys', () => {
      const oneOld = root2([keys.root[0], ...newKeys.root])
      assert.throws(() => verifyPublishedRepo({trustedRoot: root1, newRoots: [asJson(oneOld)], targets: asJson(signedTargets(newKeys.targets))}), refusedWith('threshold', /by the keys of root 1/))
      const onlyOld = root2(keys.root)
      assert.throws(() => verifyPublishedRepo({trustedRoot: root1, newRoots: [asJson(onlyOld)], targets: asJson(signedTargets(newKeys.targets))}), refusedWith('threshold', /by its own keys/))
    })

    it('refuses a skipped or repeated root version', () => {
      assert.throws(() => verifyPublishedRepo({trustedRoot: root1, newRoots: [asJson(root2(undefined, 3))], targets: asJson(signedTargets(newKeys.targets))}), refusedWith('root-version'))
      assert.throws(() => verifyPublishedRepo({trustedRoot: root1, newRoots: [asJson(root1)], targets: asJson(signedTargets(keys.targets))}), refusedWith('root-version'))
    })
  })

  describe('verifyTargetFile', () => {
    let dir: string
    before(async () => (dir = await mkdtemp(join(tmpdir(), 'tether-tuf-target-'))))
    after(() => rm(dir, {recursive: true, force: true}))

    it('accepts the signed bytes and refuses a file of other bytes or another length', async () => {
      const data = Buffer.from('package bytes')
      const target = new TargetFile({length: data.length, path: '1.0.0/p.bin', hashes: {sha256: createHash('sha256').update(data).digest('hex')}})
      await writeFile(join(dir, 'good'), data)
      await verifyTargetFile(target, join(dir, 'good'))
      await writeFile(join(dir, 'other'), 'package bytez')
      await assert.rejects(verifyTargetFile(target, join(dir, 'other')), refusedWith('target-file'))
      await writeFile(join(dir, 'longer'), 'package bytes!')
      await assert.rejects(verifyTargetFile(target, join(dir, 'longer')), refusedWith('target-file'))
    })
  })
})
