import {strict as assert} from 'node:assert'
import {createHash, randomBytes} from 'node:crypto'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {basename, dirname, join} from 'node:path'
import {LocalBlobStore} from '../../../src/server/blobs/local-blob-store.js'
import {decryptBlob} from '../../../src/server/logs/bundle-reader.js'
import {keyId, loadKeyring, unwrapDataKey, wrapDataKey} from '../../../src/server/logs/keys.js'
import {HEADER_BYTES, newHeader, sealSegment, segmentCount, segmentOffset, TAG_BYTES} from '../../../src/server/logs/segments.js'

const SEG = 1024

/** A bundle file read through the local blob store, as the server reads it. */
const decryptFile = (path: string, key: Buffer, size: number) => decryptBlob(new LocalBlobStore(dirname(path)), basename(path), key, size)

/** Writes `plain` as a bundle file the way the upload store does. */
async function writeBundle(path: string, key: Buffer, plain: Buffer): Promise<void> {
  const header = newHeader(SEG)
  const parts = [header.raw]
  const count = segmentCount(plain.length, SEG)
  for (let i = 0; i < count; i++) parts.push(sealSegment(key, header, i, i === count - 1, plain.subarray(i * SEG, (i + 1) * SEG)))
  await writeFile(path, Buffer.concat(parts))
}

async function readAll(path: string, key: Buffer, size: number): Promise<Buffer> {
  const out: Buffer[] = []
  for await (const chunk of decryptFile(path, key, size)) out.push(chunk)
  return Buffer.concat(out)
}

describe('log bundle segment encryption', () => {
  let dir: string
  const key = randomBytes(32)
  const plain = randomBytes(SEG * 5 + 100)
  let file: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-seg-'))
    file = join(dir, 'b.tlb')
    await writeBundle(file, key, plain)
  })
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  it('round-trips, and the file holds no plaintext run', async () => {
    assert.deepEqual(await readAll(file, key, plain.length), plain)
    const raw = await readFile(file)
    assert.equal(raw.length, HEADER_BYTES + plain.length + 6 * TAG_BYTES)
    assert.equal(raw.indexOf(plain.subarray(0, 32)), -1)
  })

  it('round-trips a size that is an exact multiple of the segment size', async () => {
    const exact = randomBytes(SEG * 3)
    await writeBundle(file, key, exact)
    assert.deepEqual(await readAll(file, key, exact.length), exact)
  })

  it('detects a flipped byte and yields nothing from the altered segment', async () => {
    const raw = await readFile(file)
    const at = segmentOffset(3, SEG) + 10
    raw[at] ^= 0x01
    await writeFile(file, raw)
    const got: Buffer[] = []
    await assert.rejects(
      (async () => {
        for await (const chunk of decryptFile(file, key, plain.length)) got.push(chunk)
      })(),
      (error: Error & {code?: string}) => error.code === 'BUNDLE_TAMPERED' && /segment 3/.test(error.message),
    )
    assert.equal(got.length, 3, 'segments before the damaged one only')
    assert.deepEqual(Buffer.concat(got), plain.subarray(0, 3 * SEG))
  })

  it('detects truncation (whole last segment dropped, size check) before any byte', async () => {
    const raw = await readFile(file)
    await writeFile(file, raw.subarray(0, segmentOffset(5, SEG)))
    const it = decryptFile(file, key, plain.length)
    await assert.rejects(it.next(), /truncated or extended/)
  })

  it('detects truncation that also lies about the size (final flag in the AAD)', async () => {
    const raw = await readFile(file)
    await writeFile(file, raw.subarray(0, segmentOffset(5, SEG)))
    // Five whole segments presented as a complete 5-segment bundle: segment 4 was not sealed as final.
    await assert.rejects(readAll(file, key, SEG * 5), /segment 4 failed authentication/)
  })

  it('detects reordered segments', async () => {
    const raw = await readFile(file)
    const s1 = raw.subarray(segmentOffset(1, SEG), segmentOffset(2, SEG))
    const s2 = raw.subarray(segmentOffset(2, SEG), segmentOffset(3, SEG))
    const swapped = Buffer.concat([raw.subarray(0, segmentOffset(1, SEG)), s2, s1, raw.subarray(segmentOffset(3, SEG))])
    await writeFile(file, swapped)
    await assert.rejects(readAll(file, key, plain.length), /segment 1 failed authentication/)
  })

  it('refuses the wrong key', async () => {
    await assert.rejects(readAll(file, randomBytes(32), plain.length), /failed authentication/)
  })

  it('wraps data keys bound to their bundle id', async () => {
    const keyring = await loadKeyring(join(dir, 'secrets', 'm.key'), {})
    const wrapped = wrapDataKey(keyring.current, key, 'bundle-1')
    assert.deepEqual(unwrapDataKey(keyring, keyring.current.id, wrapped, 'bundle-1'), key)
    assert.throws(() => unwrapDataKey(keyring, keyring.current.id, wrapped, 'bundle-2'), /does not authenticate/)
    assert.throws(() => unwrapDataKey(keyring, 'nope', wrapped, 'bundle-1'), /not available/)
  })

  it('takes the master key from TETHER_LOGS_MASTER_KEY, else creates a 0600 key file', async () => {
    const env = randomBytes(32)
    const fromEnv = await loadKeyring(join(dir, 'x', 'm.key'), {TETHER_LOGS_MASTER_KEY: env.toString('base64')})
    assert.equal(fromEnv.source, 'env')
    assert.equal(fromEnv.current.id, keyId(env))
    const path = join(dir, 's', 'm.key')
    const created = await loadKeyring(path, {})
    const again = await loadKeyring(path, {})
    assert.equal(created.current.id, again.current.id)
    const {statSync} = await import('node:fs')
    assert.equal(statSync(path).mode & 0o777, 0o600)
    await assert.rejects(loadKeyring(path, {TETHER_LOGS_MASTER_KEY: 'c2hvcnQ='}), /exactly 32 bytes/)
    assert.equal(createHash('sha256').update(env).digest('hex').slice(0, 16), keyId(env))
  })
})
