import {strict as assert} from 'node:assert'
import type {AddressInfo} from 'node:net'
import tls from 'node:tls'
import {eventually} from '../../helpers/eventually.js'
import {ThrottleProxy} from '../logs/throttle-proxy.js'
import {testCa, type TestCa, type TestCert} from '../../checks/fixtures/certs.js'
import {TlsWebSocketDialer, TransportError} from '../../../src/agent/transport.js'
import {dataLegDialer} from '../../../src/agent/tunnels/data-leg.js'
import {isNodeLabel, nodeServerName} from '../../../src/protocol/agent/index.js'

/** A TLS listener on 127.0.0.1 that records the server name each client sent and answers a 101. */
async function listener(cert: TestCert, ca: TestCa): Promise<{server: tls.Server; url: URL; names: Array<string | false>}> {
  const names: Array<string | false> = []
  const server = tls.createServer({key: cert.key, cert: cert.cert, ca: ca.cert, requestCert: true, rejectUnauthorized: true}, (socket) => {
    names.push(socket.servername ?? false)
    socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tether-tunnel\r\n\r\n'))
    socket.on('error', () => undefined)
  })
  server.on('tlsClientError', () => undefined)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {server, url: new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`), names}
}

describe('agent: the data leg names its node in the TLS server name', () => {
  let ca: TestCa
  let device: TestCert
  const servers: tls.Server[] = []

  before(async () => {
    ca = await testCa('sni-test')
    device = await ca.sign({cn: 'SN-SNI'})
  })

  after(() => servers.forEach((s) => s.close()))

  const dialer = (url: URL): TlsWebSocketDialer => new TlsWebSocketDialer({server: url, key: device.key, cert: device.cert, serverCa: ca.cert, timeoutMs: 3000})

  it('sends NODE.tether-node.invalid for a data leg naming its node, and today\'s name otherwise', async () => {
    const l = await listener(await ca.sign({cn: '127.0.0.1', ips: ['127.0.0.1']}), ca)
    servers.push(l.server)
    const d = dialer(l.url)
    const dial = dataLegDialer(() => l.url, (o) => d.connectTls(o), 3000)
    for (const node of ['node-2', undefined, 'bad..name']) (await dial('stream-0001', 'ticket-0123456789abcdef', node)).destroy()
    const plain = await d.connectTls()
    // TLS 1.3: the client is connected before the server has seen its certificate; wait for the server.
    await eventually(async () => l.names.length === 4 || undefined, 'the server saw the fourth connection', 5000, 20)
    plain.destroy()
    // An IP address as server: no server name at all unless a node is named.
    assert.deepEqual(l.names, ['node-2.tether-node.invalid', false, false, false])
  })

  it("sends it through the site's CONNECT proxy too, which is asked for the configured server", async () => {
    const l = await listener(await ca.sign({cn: '127.0.0.1', ips: ['127.0.0.1']}), ca)
    servers.push(l.server)
    const proxy = await ThrottleProxy.start(64 * 1024 * 1024)
    try {
      const d = new TlsWebSocketDialer({server: l.url, key: device.key, cert: device.cert, serverCa: ca.cert, timeoutMs: 3000, proxy: {host: '127.0.0.1', port: proxy.port, display: proxy.url, noProxy: [], origin: '--proxy'}})
      assert.match(d.describeRoute(), /via proxy/)
      ;(await dataLegDialer(() => l.url, (o) => d.connectTls(o), 3000)('stream-0002', 'ticket-0123456789abcdef', 'node-3')).destroy()
      assert.deepEqual(l.names, ['node-3.tether-node.invalid'])
    } finally {
      await proxy.stop()
    }
  })

  it('still verifies the certificate against the configured server, not the name sent', async () => {
    // A certificate for the steering name only: accepting it would trust whatever the name says.
    const l = await listener(await ca.sign({cn: 'node-1.tether-node.invalid', dns: ['node-1.tether-node.invalid']}), ca)
    servers.push(l.server)
    await assert.rejects(dialer(l.url).connectTls({servername: 'node-1.tether-node.invalid'}), (e: unknown) => e instanceof TransportError && e.kind === 'untrusted')
  })

  it('takes node ids that make a server name, lower-cased, and ignores others', () => {
    assert.equal(nodeServerName('Node-1'), 'node-1.tether-node.invalid')
    for (const ok of ['node-1', 'ip-10-0-0-11.ec2.internal', 'n_1']) assert.ok(isNodeLabel(ok), ok)
    for (const bad of ['', '.a', 'a..b', 'a.', '-a', 'a b', 'a/b', 'x'.repeat(64)]) assert.ok(!isNodeLabel(bad), bad)
  })
})
