import {strict as assert} from 'node:assert'
import {createServer, connect, type Server, type Socket} from 'node:net'
import {PassThrough} from 'node:stream'
import type {TLSSocket} from 'node:tls'
import {deliver} from '../../src/client/tunnel-end.js'
import {ExitCode, TetherError} from '../../src/shared/errors.js'
import {encodeEnd} from '../../src/shared/tunnel-frames.js'

function dataFrame(text: string): Buffer {
  const payload = Buffer.from(text)
  const h = Buffer.alloc(5)
  h.writeUInt32BE(payload.length, 1)
  return Buffer.concat([h, payload])
}

/**
 * The CLI's verdict on how a stream ended, over a real loopback connection: `server` plays the
 * node that owns the stream, `client` the engineer's socket (a TLS socket in the CLI; the same
 * stream events here).
 */
describe('the CLI’s end-of-stream verdict (deliver)', () => {
  let listener: Server
  let server: Socket
  let client: Socket

  beforeEach(async () => {
    listener = createServer({allowHalfOpen: true})
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve))
    client = connect({port: (listener.address() as {port: number}).port, host: '127.0.0.1', allowHalfOpen: true})
    server = await accepted
  })

  afterEach(() => {
    client.destroy()
    server.destroy()
    listener.close()
  })

  async function verdict(framed: boolean, serverSide: (s: Socket) => void, hungUp = false): Promise<{ok: boolean; error?: TetherError; out: string; outEnded: boolean}> {
    const out = new PassThrough()
    let text = ''
    let outEnded = false
    out.on('data', (d: Buffer) => (text += d.toString()))
    out.on('end', () => (outEnded = true))
    const pending = deliver(client as unknown as TLSSocket, framed, out, () => hungUp)
    client.end() // the engineer's stdin ended: the stream lives on until the server's side ends
    serverSide(server)
    const result = await pending
    await new Promise((resolve) => setImmediate(resolve))
    return {ok: result.ok, error: result.ok ? undefined : result.error, out: text, outEnded}
  }

  it('an END frame `finished` is a normal end: every byte delivered, then EOF', async () => {
    const r = await verdict(true, (s) => s.end(Buffer.concat([dataFrame('hello '), dataFrame('world'), encodeEnd({reason: 'finished', message: 'ok'})])))
    assert.deepEqual([r.ok, r.out, r.outEnded], [true, 'hello world', true])
  })

  it('a clean close without an END frame is a lost stream (a killed node behind a TCP balancer)', async () => {
    const r = await verdict(true, (s) => s.end(dataFrame('partial')))
    assert.equal(r.ok, false)
    assert.equal(r.out, 'partial')
    assert.equal(r.outEnded, false, 'a lost stream must not look finished downstream')
    assert.equal(r.error?.code, 'TUNNEL_LOST')
    assert.equal(r.error?.exitCode, ExitCode.UNAVAILABLE)
    assert.match(r.error!.message, /its connection was lost \(closed without an end-of-stream frame\)/)
  })

  it('a reset without an END frame is a lost stream too', async () => {
    const r = await verdict(true, (s) => s.resetAndDestroy())
    assert.equal(r.error?.code, 'TUNNEL_LOST')
    assert.match(r.error!.message, /\(ECONNRESET\)/)
  })

  it('an END frame with a reason names it, with the exit code of that reason', async () => {
    const cases = [
      {reason: 'closed-by-user', by: 'admin', message: 'the tunnel was closed by admin on the server', code: 'TUNNEL_CLOSED', exit: ExitCode.FAILED},
      {reason: 'credentials-revoked', message: 'the credentials were revoked', code: 'TUNNEL_CREDENTIALS_REVOKED', exit: ExitCode.AUTH},
      {reason: 'device-revoked', message: 'the device was revoked on the server', code: 'DEVICE_REVOKED', exit: ExitCode.CONFLICT},
      {reason: 'idle', message: 'idle', code: 'TUNNEL_IDLE', exit: ExitCode.FAILED},
      {reason: 'node-lost', message: 'lost', code: 'TUNNEL_LOST', exit: ExitCode.UNAVAILABLE},
      {reason: 'something-new', message: 'a future reason', code: 'TUNNEL_CLOSED', exit: ExitCode.FAILED},
    ]
    const [first, ...rest] = cases
    const r = await verdict(true, (s) => s.end(encodeEnd({reason: first.reason, by: first.by, message: first.message})))
    assert.equal(r.error?.message, 'the tunnel ended: the tunnel was closed by admin on the server (closed-by-user)')
    assert.deepEqual([r.error?.code, r.error?.exitCode, r.outEnded], [first.code, first.exit, false])
    for (const c of rest) {
      // One connection per case.
      const next = await freshPair()
      const out = new PassThrough()
      const pending = deliver(next.client as unknown as TLSSocket, true, out, () => false)
      next.server.end(encodeEnd({reason: c.reason, message: c.message}))
      next.client.end()
      const result = await pending
      next.listener.close()
      assert.equal(result.ok, false, c.reason)
      if (!result.ok) {
        assert.deepEqual([result.error.code, result.error.exitCode], [c.code, c.exit], c.reason)
        assert.ok(result.error.message.endsWith(`(${c.reason})`), result.error.message)
      }
    }
  })

  it('our own hang-up is a normal end whatever the server did', async () => {
    assert.equal((await verdict(true, (s) => s.resetAndDestroy(), true)).ok, true)
  })

  it('raw (no framing): a clean close is a normal end, a reset a lost stream', async () => {
    const r = await verdict(false, (s) => s.end('raw bytes'))
    assert.deepEqual([r.ok, r.out], [true, 'raw bytes'])
    const next = await freshPair()
    const pending = deliver(next.client as unknown as TLSSocket, false, new PassThrough(), () => false)
    next.server.resetAndDestroy()
    const lost = await pending
    next.listener.close()
    assert.equal(lost.ok ? '' : lost.error.code, 'TUNNEL_LOST')
  })
})

async function freshPair(): Promise<{listener: Server; server: Socket; client: Socket}> {
  const listener = createServer({allowHalfOpen: true})
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve))
  const client = connect({port: (listener.address() as {port: number}).port, host: '127.0.0.1', allowHalfOpen: true})
  return {listener, client, server: await accepted}
}
