import {strict as assert} from 'node:assert'
import {mkdtemp, readdir, readFile, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {canonicalize} from '@tufjs/canonical-json'
import {Metadata, Targets} from '@tufjs/models'
import {OnlinePublicKeys} from '../../../src/protocol/updates/index.js'
import {generateSigningKey, keyFromEntry, makeKeyDir, publicKeyEntry, readKeyFile, signMetadata, SPEC_VERSION, tufKeyId, writeKeyFile} from '../../../src/shared/tuf/index.js'

describe('TUF keys: Ed25519 in TUF form, key files', () => {
  let dir: string
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'tether-tuf-keys-'))))
  afterEach(() => rm(dir, {recursive: true, force: true}))

  it('derives the key id as TUF does: SHA-256 of the canonical JSON of the public key', async () => {
    const key = generateSigningKey()
    const {createHash} = await import('node:crypto')
    const canonical = canonicalize({keytype: 'ed25519', scheme: 'ed25519', keyval: {public: key.publicKey.keyVal.public}})
    assert.equal(key.keyId, createHash('sha256').update(canonical).digest('hex'))
    assert.equal(tufKeyId(key.publicKey.keyVal.public), key.keyId)
    assert.match(key.publicKey.keyVal.public, /^[0-9a-f]{64}$/)
  })

  it('signs so that @tufjs/models verifies the signature, and a changed body fails', () => {
    const key = generateSigningKey()
    const md = new Metadata(new Targets({version: 1, specVersion: SPEC_VERSION, expires: '2030-01-01T00:00:00Z'}))
    signMetadata(md, [key])
    key.publicKey.verifySignature(md)
    const tampered = Metadata.fromJSON('targets' as never, {...(md.toJSON() as object), signed: {...(md.signed.toJSON() as object), version: 2}} as never)
    assert.throws(() => key.publicKey.verifySignature(tampered), /failed to verify/)
  })

  it('writes key files 0600 in a 0700 directory, atomically, and reads the same key back', async () => {
    const keys = join(dir, 'keys')
    await makeKeyDir(keys)
    const key = generateSigningKey()
    const file = join(keys, 'root-1.key')
    await writeKeyFile(file, key)
    assert.equal((await stat(keys)).mode & 0o777, 0o700)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    assert.deepEqual(await readdir(keys), ['root-1.key'], 'no temp file left behind')
    assert.match(await readFile(file, 'utf8'), /^-----BEGIN PRIVATE KEY-----/)
    assert.equal((await readKeyFile(file)).keyId, key.keyId)
  })

  it('refuses a key file that is missing or not an Ed25519 key, naming the file', async () => {
    await assert.rejects(readKeyFile(join(dir, 'nope.key')), (e: Error & {code: string}) => e.code === 'USAGE' && /nope\.key: not found/.test(e.message))
    const {writeFile} = await import('node:fs/promises')
    await writeFile(join(dir, 'bad.key'), 'not a key')
    await assert.rejects(readKeyFile(join(dir, 'bad.key')), /bad\.key: not an Ed25519 private key/)
  })

  it('round-trips a key through the OnlinePublicKeys format and refuses an entry whose key id is not its key', () => {
    const key = generateSigningKey()
    const doc = OnlinePublicKeys.parse({snapshot: [publicKeyEntry(key)], timestamp: [publicKeyEntry(generateSigningKey())]})
    assert.equal(keyFromEntry(doc.snapshot[0])?.keyID, key.keyId)
    const other = generateSigningKey()
    assert.equal(keyFromEntry({...doc.snapshot[0], keyid: other.keyId}), undefined)
  })
})
