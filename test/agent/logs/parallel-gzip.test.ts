import {strict as assert} from 'node:assert'
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {promisify} from 'node:util'
import {gunzipSync, inflateRawSync} from 'node:zlib'
import {ParallelGzip} from '../../../src/agent/logs/parallel-gzip.js'

const run = promisify(execFile)

async function compress(input: Buffer, chunkSizes: number[], options: ConstructorParameters<typeof ParallelGzip>[0]): Promise<Buffer> {
  const chunks: Buffer[] = []
  let at = 0
  for (let i = 0; at < input.length; i++) {
    const n = chunkSizes[i % chunkSizes.length]!
    chunks.push(input.subarray(at, at + n))
    at += n
  }
  const out: Buffer[] = []
  await pipeline(Readable.from(chunks), new ParallelGzip(options), async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c)
  })
  return Buffer.concat(out)
}

/** The number of gzip members, found by inflating one member at a time. */
function countMembers(gz: Buffer): number {
  let members = 0
  let at = 0
  while (at < gz.length) {
    assert.equal(gz[at], 0x1f, `member header at ${at}`)
    // zlib writes a bare 10-byte header; the raw deflate stream after it ends on its own, and
    // `info` tells how many bytes it used; an 8-byte trailer (CRC-32, size) follows.
    const {engine} = inflateRawSync(gz.subarray(at + 10), {info: true}) as unknown as {engine: {bytesWritten: number}}
    members++
    at += 10 + engine.bytesWritten + 8
    if (members > 10_000) throw new Error('runaway')
  }
  return members
}

describe('ParallelGzip', () => {
  // Text-like data that compresses, with random bytes so blocks differ.
  const text = (n: number) => Buffer.from(Array.from({length: Math.ceil(n / 40)}, (_, i) => `line ${i} ${randomBytes(8).toString('hex')} status=ok flow=12.5\n`).join('')).subarray(0, n)

  for (const size of [0, 1, 4096, 4096 * 3, 4096 * 3 + 1, 50_000]) {
    it(`round-trips ${size} bytes through concatenated members, in order`, async () => {
      const input = text(size)
      assert.equal(input.length, size)
      const gz = await compress(input, [1000, 7, 4096, 333], {level: 1, blockBytes: 4096, concurrency: 3})
      assert.ok(gunzipSync(gz).equals(input))
      assert.equal(countMembers(gz), Math.max(1, Math.ceil(input.length / 4096)))
    })
  }

  it('is read by the system gzip (multi-member gzip is standard)', async () => {
    const input = text(100_000)
    const gz = await compress(input, [10_000], {level: 6, blockBytes: 8192, concurrency: 2})
    const dir = await mkdtemp(join(tmpdir(), 'tether-pgz-'))
    try {
      await writeFile(join(dir, 'x.gz'), gz)
      const {stdout} = await run('gzip', ['-dc', join(dir, 'x.gz')], {encoding: 'buffer', maxBuffer: 1 << 20})
      assert.ok(stdout.equals(input))
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('reports a compression error as a stream error', async () => {
    const error = await compress(text(10), [10], {level: 42}).then(
      () => null,
      (e: Error) => e,
    )
    assert.match(error?.message ?? 'no error', /level/i)
  })
})
