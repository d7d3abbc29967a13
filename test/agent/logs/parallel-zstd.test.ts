import {strict as assert} from 'node:assert'
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {promisify} from 'node:util'
import {create as createTar} from 'tar'
import {decompress} from 'zstd-napi'
import zstd from 'zstd-napi/binding.js'
import {ParallelZstd} from '../../../src/agent/logs/parallel-zstd.js'

const run = promisify(execFile)

async function compress(input: Buffer | Readable, chunkSizes: number[], options: ConstructorParameters<typeof ParallelZstd>[0]): Promise<Buffer> {
  let source: Readable
  if (Buffer.isBuffer(input)) {
    const chunks: Buffer[] = []
    let at = 0
    for (let i = 0; at < input.length; i++) {
      const n = chunkSizes[i % chunkSizes.length]!
      chunks.push(input.subarray(at, at + n))
      at += n
    }
    source = Readable.from(chunks)
  } else source = input
  const out: Buffer[] = []
  await pipeline(source, new ParallelZstd(options), async (s: AsyncIterable<Buffer>) => {
    for await (const c of s) out.push(c)
  })
  return Buffer.concat(out)
}

/** Frames in a zstd stream, walked with the library's own frame-size function. */
function frames(z: Buffer): Array<{size: number | null}> {
  const out: Array<{size: number | null}> = []
  let at = 0
  while (at < z.length) {
    const rest = z.subarray(at)
    out.push({size: zstd.getFrameContentSize(rest)})
    at += zstd.findFrameCompressedSize(rest)
    if (out.length > 10_000) throw new Error('runaway')
  }
  return out
}

describe('ParallelZstd', () => {
  const text = (n: number) => Buffer.from(Array.from({length: Math.ceil(n / 40) + 1}, (_, i) => `line ${i} ${randomBytes(8).toString('hex')} status=ok flow=12.5\n`).join('')).subarray(0, n)
  const block = 4096

  // Block edges: empty, one byte, one under/at/over a block, several blocks exactly, several plus one.
  for (const size of [0, 1, block - 1, block, block + 1, block * 3, block * 3 + 1, 50_000]) {
    it(`round-trips ${size} bytes through concatenated frames, in order`, async () => {
      const input = text(size)
      assert.equal(input.length, size)
      const z = await compress(input, [1000, 7, 4096, 333], {level: 1, blockBytes: block, threads: 3})
      assert.ok(decompress(z).equals(input))
      const f = frames(z)
      assert.equal(f.length, Math.max(1, Math.ceil(size / block)))
      // Every frame but the last holds exactly one block: the cut does not depend on the input chunking.
      f.forEach((frame, i) => assert.equal(frame.size, i < f.length - 1 ? block : size - block * (f.length - 1)))
    })
  }

  it('is read by the zstd CLI (concatenated frames are one stream)', async () => {
    const input = text(300_000)
    const z = await compress(input, [65_536], {level: 1, blockBytes: 16_384, threads: 2})
    const dir = await mkdtemp(join(tmpdir(), 'tether-pzst-'))
    try {
      await writeFile(join(dir, 'x.zst'), z)
      const {stdout} = await run('zstd', ['-dc', join(dir, 'x.zst')], {encoding: 'buffer', maxBuffer: 4 << 20})
      assert.ok(stdout.equals(input))
      // The frames carry a checksum: a flipped byte is caught by the reader.
      z[z.length - 10] ^= 0xff
      await writeFile(join(dir, 'bad.zst'), z)
      await assert.rejects(run('zstd', ['-dc', join(dir, 'bad.zst')], {encoding: 'buffer', maxBuffer: 4 << 20}))
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('packs a tar that `tar --zstd` lists and extracts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tether-pzst-tar-'))
    try {
      await mkdir(join(dir, 'src/var/log'), {recursive: true})
      const a = text(70_000)
      await writeFile(join(dir, 'src/var/log/a.log'), a)
      await writeFile(join(dir, 'src/var/log/b.log'), 'short\n')
      const z = await compress(Readable.from(createTar({cwd: join(dir, 'src'), portable: true}, ['var/log/a.log', 'var/log/b.log'])), [], {level: 1, blockBytes: 8192})
      await writeFile(join(dir, 'x.tar.zst'), z)
      const {stdout} = await run('tar', ['--zstd', '-tf', join(dir, 'x.tar.zst')])
      assert.deepEqual(stdout.trim().split('\n'), ['var/log/a.log', 'var/log/b.log'])
      await mkdir(join(dir, 'out'))
      await run('tar', ['--zstd', '-xf', join(dir, 'x.tar.zst'), '-C', join(dir, 'out')])
      assert.ok((await readFile(join(dir, 'out/var/log/a.log'))).equals(a))
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('refuses a level zstd would clamp silently', () => {
    assert.throws(() => new ParallelZstd({level: 1000}), /zstd level 1000/)
    assert.throws(() => new ParallelZstd({level: 0}), /zstd level 0/)
  })
})
