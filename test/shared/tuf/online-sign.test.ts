import {strict as assert} from 'node:assert'
import {createHash} from 'node:crypto'
import {parseMetadata, serializeMetadata, signSnapshot, signTimestamp, TufMetadataError, verifyThreshold} from '../../../src/shared/tuf/index.js'
import {DAY, fixtureKeys, signedRoot, signedTargets} from './tuf-fixture.js'

describe('signSnapshot / signTimestamp: what the server signs with its online keys', () => {
  const keys = fixtureKeys()
  const root = signedRoot(keys)
  const targetsBytes = serializeMetadata(signedTargets(keys.targets, {version: 7}))

  it('pins targets.json in snapshot and snapshot.json in timestamp (version, length, sha256 of the served bytes)', () => {
    const expires = new Date(Date.now() + DAY)
    const snapshot = signSnapshot({version: 4, expires, keys: keys.snapshot, targetsVersion: 7, targetsBytes})
    verifyThreshold(root, 'snapshot', snapshot)
    const meta = snapshot.signed.meta['targets.json']
    assert.equal(meta.version, 7)
    assert.equal(meta.length, targetsBytes.length)
    assert.equal(meta.hashes?.sha256, createHash('sha256').update(targetsBytes).digest('hex'))

    const snapshotBytes = serializeMetadata(snapshot)
    const timestamp = signTimestamp({version: 9, expires, keys: keys.timestamp, snapshotVersion: 4, snapshotBytes})
    verifyThreshold(root, 'timestamp', timestamp)
    assert.equal(timestamp.signed.snapshotMeta.version, 4)
    timestamp.signed.snapshotMeta.verify(snapshotBytes)
    assert.equal(timestamp.signed.expires, expires.toISOString().replace(/\.\d{3}Z$/, 'Z'))
    // The served bytes parse back to what was signed.
    assert.equal(parseMetadata('snapshot', JSON.parse(snapshotBytes.toString())).signed.version, 4)
  })

  it('is refused when signed with a key root does not name for the role', () => {
    const snapshot = signSnapshot({version: 1, expires: new Date(Date.now() + DAY), keys: keys.timestamp, targetsVersion: 1})
    assert.throws(() => verifyThreshold(root, 'snapshot', snapshot), TufMetadataError)
    assert.equal(snapshot.signed.meta['targets.json'].length, undefined)
  })
})
