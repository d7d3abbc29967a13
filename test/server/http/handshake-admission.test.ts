import {strict as assert} from 'node:assert'
import {once} from 'node:events'
import {connect as connectTcp, type Socket} from 'node:net'
import {connect as connectTls, createServer, type Server} from 'node:tls'
import {admitHandshakes, type HandshakeAdmissionStats} from '../../../src/server/http/handshake-admission.js'
import {selfSigned, type TestCert} from '../../checks/fixtures/certs.js'

describe('TLS handshake admission: a bounded number of handshakes at once, the rest wait their turn', function () {
  this.timeout(20_000)
  let cert: TestCert
  let server: Server
  let port: number
  let stats: () => HandshakeAdmissionStats
  const open: Socket[] = []

  before(async () => {
    cert = await selfSigned({cn: 'localhost', ips: ['127.0.0.1']})
  })

  async function listen(concurrency: number, maxWaitMs: number): Promise<void> {
    server = createServer({key: cert.key, cert: cert.cert, handshakeTimeout: 5000}, (s) => s.end('hi'))
    const admission = admitHandshakes(server, {concurrency, maxWaitMs, slotTimeoutMs: 6000})
    assert.ok(admission, 'the TLS server had its own connection listener to take over')
    stats = admission.stats
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as {port: number}).port
  }

  afterEach(async () => {
    for (const s of open.splice(0)) s.destroy()
    server.close()
  })

  function greeting(): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = connectTls({host: '127.0.0.1', port, ca: cert.cert, servername: 'localhost'})
      open.push(s)
      let text = ''
      s.setEncoding('utf8')
      s.on('data', (d: string) => (text += d))
      s.on('end', () => resolve(text))
      s.on('error', reject)
    })
  }

  /** A TCP connection that never starts its handshake: it holds an admitted slot. */
  async function stall(): Promise<Socket> {
    const s = connectTcp({host: '127.0.0.1', port})
    open.push(s)
    s.on('error', () => undefined)
    await once(s, 'connect')
    return s
  }

  it('completes every handshake with a concurrency of 2 and 20 clients at once', async () => {
    await listen(2, 5000)
    const answers = await Promise.all(Array.from({length: 20}, () => greeting()))
    assert.deepEqual(answers, Array(20).fill('hi'))
    assert.equal(stats().inFlight, 0)
  })

  it('makes a connection wait while the slots are taken, and serves it when one frees', async () => {
    await listen(1, 5000)
    const staller = await stall()
    const waiting = greeting()
    await until(() => stats().queued === 1)
    assert.equal(stats().inFlight, 1)
    staller.destroy()
    assert.equal(await waiting, 'hi')
  })

  it('closes a connection that waited longer than maxWaitMs instead of handshaking it', async () => {
    await listen(1, 200)
    const staller = await stall()
    const waiting = greeting().then(
      (text) => (text === 'hi' ? 'served' : 'closed'),
      () => 'closed',
    )
    await until(() => stats().queued === 1)
    await new Promise((resolve) => setTimeout(resolve, 400))
    staller.destroy()
    assert.equal(await waiting, 'closed')
    assert.equal(stats().expired, 1)
  })
})

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok(check(), 'condition not reached in 2 s')
}
