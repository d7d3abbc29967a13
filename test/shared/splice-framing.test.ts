import {strict as assert} from 'node:assert'
import {createServer, connect, type Server, type Socket} from 'node:net'
import {splice, type SpliceEnd} from '../../src/shared/splice.js'
import {FrameReader} from '../../src/shared/tunnel-frames.js'

interface Pair {
  near: Socket
  far: Socket
  listener: Server
}

async function pair(): Promise<Pair> {
  const listener = createServer({allowHalfOpen: true})
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve))
  const far = connect({port: (listener.address() as {port: number}).port, host: '127.0.0.1', allowHalfOpen: true})
  return {far, near: await accepted, listener}
}

/**
 * The owner's side of framing: a spliced stream whose engineer asked for frames gets the
 * device's bytes as DATA frames and exactly one END frame saying how the device's side ended,
 * then EOF (never just a dropped connection).
 */
describe('splice with framing (the node that owns the stream)', () => {
  let engineer: Pair
  let device: Pair

  beforeEach(async () => {
    engineer = await pair()
    device = await pair()
  })

  afterEach(() => {
    for (const p of [engineer, device]) {
      p.near.destroy()
      p.far.destroy()
      p.listener.close()
    }
  })

  /** Splices and returns what the engineer reads (deframed) and the END frame, once its side ends. */
  function run(act: (cut: (reason?: Error) => void) => void, reason: {why: string | null} = {why: null}): Promise<{data: string; end: FrameReader['endFrame']; spliceEnd: SpliceEnd | null}> {
    let spliceEnd: SpliceEnd | null = null
    const cut = splice(engineer.near, device.near, {toDevice: 0, fromDevice: 0, lastActivity: 0}, (e) => (spliceEnd = e), {
      endFrame: (how) => ({reason: reason.why ?? how, message: `ended: ${reason.why ?? how}`}),
    })
    const reader = new FrameReader()
    let data = ''
    reader.on('data', (d: Buffer) => (data += d.toString()))
    engineer.far.pipe(reader)
    const ended = new Promise<void>((resolve, reject) => {
      reader.on('end', resolve)
      reader.on('error', reject)
    })
    reader.resume()
    act(cut)
    return ended.then(() => ({data, end: reader.endFrame, spliceEnd}))
  }

  it('the device ends normally: its bytes, then END finished', async () => {
    const r = await run(() => device.far.end('bytes from the device'))
    assert.equal(r.data, 'bytes from the device')
    assert.equal(r.end?.reason, 'finished')
  })

  it('the device vanishes (reset): END device-gone, delivered before the engineer side closes', async () => {
    const r = await run(() => {
      device.far.write('some')
      setTimeout(() => device.far.resetAndDestroy(), 50)
    })
    assert.equal(r.data, 'some')
    assert.equal(r.end?.reason, 'device-gone')
    assert.equal(r.spliceEnd, 'device-gone')
  })

  it('the server cuts it (tunnels close, idle, revoked …): END with that reason, the device side destroyed', async () => {
    const reason = {why: null as string | null}
    const r = await run((cut) => {
      device.far.write('live')
      setTimeout(() => {
        reason.why = 'closed-by-user'
        cut()
      }, 50)
    }, reason)
    assert.equal(r.end?.reason, 'closed-by-user')
    assert.equal(r.end?.message, 'ended: closed-by-user')
    assert.ok(device.near.destroyed)
  })
})
