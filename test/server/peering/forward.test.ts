import {strict as assert} from 'node:assert'
import {randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer as createHttpsServer, type Server} from 'node:https'
import type {IncomingMessage} from 'node:http'
import type {Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Duplex} from 'node:stream'
import tls from 'node:tls'
import pino from 'pino'
import {createCsr} from '../../../src/agent/enroll.js'
import {rejectUpgrade} from '../../../src/server/hub/upgrade.js'
import {LegForwarder} from '../../../src/server/peering/forward.js'
import {FORWARDING_HEADERS, readForwarding} from '../../../src/server/peering/forwarded.js'
import {NodeCredentials} from '../../../src/server/peering/node-cert.js'
import {createCa, issueServerCert, loadCa, signCsr} from '../../../src/server/pki/ca.js'
import {upgradeSocket, UpgradeRefusedError} from '../../../src/shared/upgrade-client.js'

const log = pino({level: 'silent'})

/**
 * Proxy peering with real TLS on loopback: two "nodes" made of the server's own pieces (the same
 * CA layout as `server init`, the HTTPS port trusting the device CA and the server CA), node A
 * forwarding an upgrade to node B, and B believing forwarding headers only from a node certificate.
 */
describe('tunnel legs between nodes (peering)', () => {
  let dir: string
  let credentials: NodeCredentials
  let foreign: NodeCredentials
  let serverCaPem: string
  let device: {cert: string; key: string}
  let b: {server: Server; port: number; seen: Array<{byNode: string | null; device: string | null; for: string | null}>; sockets: Set<Duplex>}
  let a: {server: Server; port: number; forwarder: LegForwarder}

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-peering-'))
    const serverCa = await createCa('Tether Root CA')
    const deviceCa = await createCa('Tether Device CA')
    await writeFile(join(dir, 'ca.crt'), serverCa.certPem)
    await writeFile(join(dir, 'ca.key'), serverCa.keyPem)
    await writeFile(join(dir, 'dca.crt'), deviceCa.certPem)
    await writeFile(join(dir, 'dca.key'), deviceCa.keyPem)
    serverCaPem = serverCa.certPem
    const other = await createCa('Someone Else Root CA')
    await mkdir(join(dir, 'other'))
    await writeFile(join(dir, 'other', 'ca.crt'), other.certPem)
    await writeFile(join(dir, 'other', 'ca.key'), other.keyPem)
    const serverCert = await issueServerCert(await loadCa(join(dir, 'ca.crt'), join(dir, 'ca.key')), ['localhost', '127.0.0.1'])
    const csr = await createCsr('SN-PEER-1')
    device = {cert: (await signCsr(await loadCa(join(dir, 'dca.crt'), join(dir, 'dca.key')), csr.csrPem, {serial: 'SN-PEER-1'})).certPem, key: csr.keyPem}
    credentials = (await NodeCredentials.load(join(dir, 'ca.crt'), () => 'node-a'))!
    // A look-alike: OU=nodes, but from a CA that is not this cluster's.
    foreign = (await NodeCredentials.load(join(dir, 'other', 'ca.crt'), () => 'intruder'))!
    const options = {cert: serverCert.certPem + serverCa.certPem, key: serverCert.keyPem, requestCert: true, rejectUnauthorized: false, ca: [deviceCa.certPem, serverCa.certPem]}

    // Node B: the owner. Accepts a forwarded leg from a node, answers 101 and echoes.
    const seen: typeof b.seen = []
    const sockets = new Set<Duplex>()
    const bServer = createHttpsServer(options)
    bServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      const verdict = readForwarding(request, socket, credentials.caFingerprint)
      if (!verdict.ok) return rejectUpgrade(socket, 403, 'FORWARD_REFUSED', verdict.message)
      seen.push({byNode: verdict.forwarded?.byNode ?? null, device: verdict.forwarded?.device ?? null, for: verdict.forwarded?.clientAddress ?? null})
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tether-tunnel\r\n\r\n')
      if (head.length > 0) socket.unshift(head)
      socket.pipe(socket)
    })
    b = {server: bServer, port: await listen(bServer), seen, sockets}

    // Node A: forwards every leg to B, as a node whose device is elsewhere does.
    const forwarder = new LegForwarder(credentials, () => 'node-a', log)
    const aServer = createHttpsServer(options)
    aServer.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      void forwarder.forward(request, socket, head, {nodeId: 'node-b', peerAddress: `127.0.0.1:${b.port}`}, 'device "SN-PEER-1"', {[FORWARDING_HEADERS.for]: '192.0.2.7', [FORWARDING_HEADERS.device]: 'SN-PEER-1'})
    })
    a = {server: aServer, port: await listen(aServer), forwarder}
  })

  after(async () => {
    a?.forwarder.close()
    a?.server.close()
    b?.server.close()
    await rm(dir, {recursive: true, force: true})
  })

  const dial = async (port: number, extra: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> => {
    const socket = tls.connect({host: '127.0.0.1', port, ca: serverCaPem, servername: 'localhost', ...extra})
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
    return socket
  }
  const upgrade = (socket: tls.TLSSocket, headers: Record<string, string> = {}) =>
    upgradeSocket(socket, {host: 'localhost', path: '/api/v1/devices/SN-PEER-1/tunnel?port=22', protocol: 'tether-tunnel', headers, timeoutMs: 5000})

  it('a leg landing on node A reaches node B over a node certificate, and 4 MB echo back intact', async () => {
    const client = await dial(a.port)
    // A client cannot smuggle its own forwarding headers through: A replaces them with its own.
    await upgrade(client, {'x-tether-forwarded-by': 'liar'})
    const payload = randomBytes(4 * 1024 * 1024)
    const received: Buffer[] = []
    client.on('data', (d: Buffer) => received.push(d))
    client.resume()
    client.end(payload)
    await new Promise((resolve) => client.once('end', resolve))
    assert.ok(Buffer.concat(received).equals(payload), 'echoed bytes differ')
    assert.deepEqual(b.seen.at(-1), {byNode: 'node-a', device: 'SN-PEER-1', for: '192.0.2.7'})
  })

  it('refuses forwarding headers over no certificate, a device certificate, or a look-alike node certificate from another CA', async () => {
    const forged = {[FORWARDING_HEADERS.by]: 'node-a', [FORWARDING_HEADERS.device]: 'SN-OTHER'}
    const attempts: Array<[string, tls.ConnectionOptions]> = [
      ['no certificate', {}],
      ['a device certificate', device],
      ['another CA\'s node certificate', {cert: (await foreign.material()).cert, key: (await foreign.material()).key}],
    ]
    for (const [what, options] of attempts) {
      const socket = await dial(b.port, options)
      await assert.rejects(upgrade(socket, forged), (error: unknown) => error instanceof UpgradeRefusedError && error.status === 403 && error.code === 'FORWARD_REFUSED', what)
    }
    // The same headers over this cluster's node certificate are believed.
    const node = await dial(b.port, {cert: (await credentials.material()).cert, key: (await credentials.material()).key})
    await upgrade(node, forged)
    node.destroy()
    assert.deepEqual(b.seen.at(-1), {byNode: 'node-a', device: 'SN-OTHER', for: null})
  })

  it('answers PEER_UNREACHABLE when the owning node does not answer', async () => {
    const gone = createHttpsServer({})
    const port = await listen(gone)
    await new Promise((resolve) => gone.close(resolve))
    const forwarder = new LegForwarder(credentials, () => 'node-a', log)
    const relay = createHttpsServer({cert: (await credentials.material()).cert, key: (await credentials.material()).key})
    relay.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => void forwarder.forward(request, socket, head, {nodeId: 'node-c', peerAddress: `127.0.0.1:${port}`}, 'device "SN-PEER-1"', {}))
    const relayPort = await listen(relay)
    try {
      const socket = tls.connect({host: '127.0.0.1', port: relayPort, rejectUnauthorized: false})
      await new Promise((resolve) => socket.once('secureConnect', resolve))
      await assert.rejects(upgrade(socket), (error: unknown) => error instanceof UpgradeRefusedError && error.status === 503 && error.code === 'PEER_UNREACHABLE' && /node "node-c"/.test(error.message))
    } finally {
      relay.close()
    }
  })

  it('resets the client when the owning node vanishes mid-stream (the CLI then says the connection was lost)', async () => {
    const client = await dial(a.port)
    await upgrade(client)
    client.resume()
    client.write('ping')
    await new Promise((resolve) => client.once('data', resolve))
    // B stops listening and its side of the stream disappears without a word, as after kill -9.
    b.server.close()
    for (const socket of b.sockets) ((socket as unknown as {_parent?: Socket})._parent ?? socket).destroy()
    const outcome = await new Promise<string>((resolve) => {
      client.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
      client.once('close', () => resolve('closed cleanly'))
    })
    assert.equal(outcome, 'ECONNRESET')
  })
})

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as {port: number}).port)))
}
