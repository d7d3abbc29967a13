import {strict as assert} from 'node:assert'
import {randomBytes} from 'node:crypto'
import {createServer, connect, type Server, type Socket} from 'node:net'
import {PassThrough} from 'node:stream'
import {encodeEnd, FrameReader, FrameWriter, FramingError} from '../../src/shared/tunnel-frames.js'

/** Feeds `bytes` to a reader in pieces of `size` and collects what comes out. */
async function read(bytes: Buffer, size: number): Promise<{data: Buffer; reader: FrameReader}> {
  const reader = new FrameReader()
  const out: Buffer[] = []
  reader.on('data', (chunk: Buffer) => out.push(chunk))
  const done = new Promise<void>((resolve, reject) => {
    reader.on('end', resolve)
    reader.on('error', reject)
  })
  for (let at = 0; at < bytes.length; at += size) reader.write(bytes.subarray(at, at + size))
  reader.end()
  await done
  return {data: Buffer.concat(out), reader}
}

function dataFrame(payload: Buffer): Buffer {
  const h = Buffer.alloc(5)
  h.writeUInt32BE(payload.length, 1)
  return Buffer.concat([h, payload])
}

/** A connected pair of loopback sockets. */
async function socketPair(): Promise<{a: Socket; b: Socket; server: Server}> {
  const server = createServer({allowHalfOpen: true})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  const a = connect({port: (server.address() as {port: number}).port, host: '127.0.0.1', allowHalfOpen: true})
  return {a, b: await accepted, server}
}

describe('tunnel framing (server → engineer END frames)', () => {
  const payload = randomBytes(200_000)
  const end = {reason: 'closed-by-user', by: 'admin', message: 'the tunnel was closed by admin on the server'}
  const framed = Buffer.concat([dataFrame(payload.subarray(0, 70_000)), dataFrame(payload.subarray(70_000)), encodeEnd(end)])

  for (const size of [1, 3, 5, 6, 4096, framed.length]) {
    it(`deframes data and the END frame whatever the chunking (${size}-byte chunks)`, async () => {
      const {data, reader} = await read(size === 1 ? framed.subarray(0, 20_000 + 5) : framed, size)
      if (size === 1) {
        assert.deepEqual(data, payload.subarray(0, 20_000))
        assert.equal(reader.endFrame, null)
        return
      }
      assert.ok(data.equals(payload))
      assert.deepEqual(reader.endFrame, end)
    })
  }

  it('has no END frame when the bytes stop without one (a lost stream), even mid-frame', async () => {
    const {reader} = await read(framed.subarray(0, framed.length - 3), 1000)
    assert.equal(reader.endFrame, null)
  })

  it('refuses bytes after the END frame, unknown frame types and oversized or malformed END frames', async () => {
    await assert.rejects(read(Buffer.concat([encodeEnd(end), dataFrame(Buffer.from('x'))]), 100), FramingError)
    await assert.rejects(read(Buffer.from([7, 0, 0, 0, 0]), 100), /unknown frame type 7/)
    await assert.rejects(read(Buffer.from([1, 0, 1, 0, 0]), 100), /end-of-stream frame of/)
    const notJson = Buffer.concat([Buffer.from([1, 0, 0, 0, 3]), Buffer.from('{x}')])
    await assert.rejects(read(notJson, 100), /not JSON/)
    const noReason = Buffer.from(JSON.stringify({message: 'hi'}))
    await assert.rejects(read(Buffer.concat([Buffer.from([1, 0, 0, 0, noReason.length]), noReason]), 100), /without its fields/)
  })

  it('FrameWriter: a socket\'s bytes arrive framed with backpressure, then one END frame and EOF', async () => {
    const src = await socketPair()
    const dst = await socketPair()
    try {
      const writer = new FrameWriter(src.b, dst.a)
      // A reader that stays paused for a while: the source must be paused, not buffered without bound.
      const reader = new FrameReader()
      const got: Buffer[] = []
      dst.b.pipe(reader)
      const big = randomBytes(8 * 1024 * 1024)
      src.a.end(big)
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.ok(dst.a.writableLength < 4 * 1024 * 1024, `writer buffered ${dst.a.writableLength} bytes`)
      const sink = new PassThrough()
      sink.on('data', (c: Buffer) => got.push(c))
      reader.pipe(sink)
      src.b.once('end', () => writer.end({reason: 'finished', message: 'done'}))
      await new Promise((resolve) => sink.on('end', resolve))
      assert.ok(Buffer.concat(got).equals(big))
      assert.deepEqual(reader.endFrame, {reason: 'finished', message: 'done'})
      writer.end({reason: 'idle', message: 'again'}) // once only
    } finally {
      for (const s of [src.a, src.b, dst.a, dst.b]) s.destroy()
      src.server.close()
      dst.server.close()
    }
  })
})
