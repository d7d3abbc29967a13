import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Agent, request} from 'undici'
import {balancerList, readProxyHeader} from '../../../src/server/http/proxy-protocol.js'
import {initDataDir} from '../../../src/server/init.js'
import {startServer, type StartedServer} from '../../../src/server/server.js'
import {eventually} from '../../helpers/eventually.js'
import {freePort} from '../../helpers/cluster.js'
import {Haproxy, haveHaproxy} from '../../helpers/haproxy.js'

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

/** A v2 header written from the spec's layout, independently of the code under test. */
function v2Header(o: {command?: number; family?: number; source?: number[]; port?: number; tlv?: Buffer}): Buffer {
  const v6 = (o.source?.length ?? 4) === 16
  const addresses = Buffer.alloc(v6 ? 36 : 12)
  Buffer.from(o.source ?? [192, 0, 2, 7]).copy(addresses, 0)
  Buffer.from(v6 ? Array.from({length: 16}, () => 1) : [127, 0, 0, 1]).copy(addresses, v6 ? 16 : 4)
  addresses.writeUInt16BE(o.port ?? 40_000, v6 ? 32 : 8)
  addresses.writeUInt16BE(8443, v6 ? 34 : 10)
  const body = Buffer.concat([addresses, o.tlv ?? Buffer.alloc(0)])
  const fixed = Buffer.alloc(4)
  fixed[0] = 0x20 | (o.command ?? 1)
  fixed[1] = ((o.family ?? (v6 ? 2 : 1)) << 4) | 1
  fixed.writeUInt16BE(body.length, 2)
  return Buffer.concat([SIGNATURE, fixed, body])
}

describe('PROXY protocol v2 (a TCP-mode balancer passes the client address)', () => {
  describe('reading the header', () => {
    it('reads an IPv4 and an IPv6 source, skipping TLVs, and says how long the header is', () => {
      const v4 = v2Header({source: [192, 0, 2, 7], port: 51_000, tlv: Buffer.from([0x04, 0x00, 0x01, 0x00])})
      assert.deepEqual(readProxyHeader(Buffer.concat([v4, Buffer.from([0x16, 0x03])])), {kind: 'proxy', length: v4.length, family: 'IPv4', address: '192.0.2.7', port: 51_000})
      const source = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42]
      assert.deepEqual(readProxyHeader(v2Header({source, port: 1})), {kind: 'proxy', length: 16 + 36, family: 'IPv6', address: '2001:db8::42', port: 1})
      const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]
      assert.equal((readProxyHeader(v2Header({source: mapped})) as {address: string}).address, '::ffff:10.1.2.3')
    })

    it('waits for more bytes while the header is incomplete, at any cut', () => {
      const header = v2Header({})
      for (let cut = 1; cut < header.length; cut++) assert.deepEqual(readProxyHeader(header.subarray(0, cut)), {kind: 'incomplete'}, `cut at ${cut}`)
    })

    it('LOCAL (a health check) and UNSPEC keep the balancer\'s own address', () => {
      assert.equal(readProxyHeader(v2Header({command: 0})).kind, 'local')
      assert.equal(readProxyHeader(v2Header({family: 0})).kind, 'local')
    })

    it('refuses what is not a v2 header: TLS, the v1 text form, another version or command, an oversized length', () => {
      const why = (data: Buffer): string => {
        const h = readProxyHeader(data)
        assert.equal(h.kind, 'invalid')
        return (h as {why: string}).why
      }
      assert.match(why(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])), /no PROXY protocol v2 signature/)
      assert.match(why(Buffer.from('PROXY TCP4 192.0.2.7 127.0.0.1 51000 8443\r\n')), /no PROXY protocol v2 signature/)
      const v1 = v2Header({})
      v1[12] = 0x11
      assert.match(why(v1), /version 1, expected 2/)
      assert.match(why(v2Header({command: 5})), /PROXY command 5/)
      const huge = v2Header({})
      huge.writeUInt16BE(4000, 14)
      assert.match(why(huge), /PROXY header of 4016 bytes/)
    })

    it('balancer addresses: addresses and CIDRs, v4 and v6; a bad entry is named', () => {
      const list = balancerList(['10.0.0.10', '10.0.1.0/24', 'fd00::/8'])
      assert.equal(list.check('10.0.1.77', 'ipv4'), true)
      assert.equal(list.check('10.0.0.11', 'ipv4'), false)
      assert.equal(list.check('fd12::1', 'ipv6'), true)
      assert.throws(() => balancerList(['10.0.0.0/33']), /"10\.0\.0\.0\/33" is not an address or CIDR/)
      assert.throws(() => balancerList(['balancer.local']), /"balancer\.local" is not an address or CIDR/)
    })
  })

  it('config.json: a bad balancer entry stops the server with a line naming the field', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tether-proxy-protocol-config-'))
    try {
      await initDataDir({dataDir, hostnames: ['localhost']})
      const configFile = join(dataDir, 'config.json')
      await writeFile(configFile, JSON.stringify({...JSON.parse(await readFile(configFile, 'utf8')), proxyProtocolFrom: ['10.0.0.10', 'balancer.local']}))
      await assert.rejects(startServer({dataDir, port: 0, logLevel: 'silent'}), /config\.json: proxyProtocolFrom: "balancer\.local" is not an address or CIDR; expected e\.g\. "10\.0\.0\.10"/)
    } finally {
      await rm(dataDir, {recursive: true, force: true})
    }
  })

  describe('through a real haproxy with send-proxy-v2', function () {
    this.timeout(60_000)
    let dir: string
    let server: StartedServer
    let haproxy: Haproxy | undefined
    let balancerPort = 0

    before(async function () {
      if (!haveHaproxy()) this.skip()
      dir = await mkdtemp(join(tmpdir(), 'tether-proxy-protocol-'))
      const dataDir = join(dir, 'data')
      await initDataDir({dataDir, hostnames: ['localhost', '127.0.0.1']})
      // What an operator writes: the balancer's address (haproxy dials the node from 127.0.0.1).
      // One handshake at a time: a handshake slot that the client's address kept from being freed
      // would make the next connection wait past the admission bound and be closed.
      const configFile = join(dataDir, 'config.json')
      const written = JSON.parse(await readFile(configFile, 'utf8')) as {limits?: Record<string, unknown>}
      await writeFile(configFile, JSON.stringify({...written, proxyProtocolFrom: ['127.0.0.1'], limits: {...written.limits, maxConcurrentHandshakes: 1}}))
      server = await startServer({dataDir, host: '127.0.0.1', port: 0, logLevel: 'silent', shutdownTimeoutMs: 3000, rateLimitPerMinute: 3})
      balancerPort = await freePort()
      const cfg = [
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 30s',
        '  timeout server 30s',
        'frontend tether',
        `  bind 127.0.0.1:${balancerPort}`,
        '  default_backend nodes',
        'backend nodes',
        `  server node-1 127.0.0.1:${server.port} send-proxy-v2`,
        '',
      ].join('\n')
      haproxy = await Haproxy.start(dir, cfg)
      await eventually(
        () =>
          new Promise<boolean>((resolve) => {
            const s = connect(balancerPort, '127.0.0.1', () => (s.destroy(), resolve(true)))
            s.on('error', () => resolve(false))
          }),
        'haproxy listening',
      )
    })

    after(async () => {
      await haproxy?.stop()
      await server?.stop()
      if (dir) await rm(dir, {recursive: true, force: true})
    })

    /** A failed login from `from` to `port`: its status (the audit records the source address). */
    async function failedLogin(port: number, from: string, username: string, kept?: Agent): Promise<number> {
      const dispatcher = kept ?? (await clientFrom(from))
      try {
        const res = await request(`https://127.0.0.1:${port}/api/v1/auth/login`, {
          method: 'POST',
          dispatcher,
          headers: {'content-type': 'application/json'},
          body: JSON.stringify({username, password: 'wrong-password-here'}),
        })
        await res.body.dump()
        return res.statusCode
      } finally {
        if (!kept) await dispatcher.close()
      }
    }

    const clientFrom = async (from: string): Promise<Agent> => new Agent({localAddress: from, connect: {ca: await readFile(server.config.tls.caFile, 'utf8')}})

    const sourcesOf = async (username: string): Promise<Array<string | null>> =>
      (await server.app.db.selectFrom('audit_events').select('source_ip').where('action', '=', 'auth.login').where('actor', '=', username).orderBy('seq').execute()).map((r) => r.source_ip)

    it('the audit and the rate limit see the client behind the balancer, each client with its own budget', async () => {
      // Its connection stays open through the test: its handshake's slot must have been freed.
      const kept = await clientFrom('127.0.0.7')
      assert.equal(await failedLogin(balancerPort, '127.0.0.7', 'via-balancer', kept), 401)
      assert.deepEqual(await sourcesOf('via-balancer'), ['127.0.0.7'])
      // rateLimitPerMinute 3: the 4th request of 127.0.0.7 is refused; 127.0.0.8 still has its own.
      assert.deepEqual([await failedLogin(balancerPort, '127.0.0.7', 'x'), await failedLogin(balancerPort, '127.0.0.7', 'x'), await failedLogin(balancerPort, '127.0.0.7', 'x')], [401, 401, 429])
      assert.equal(await failedLogin(balancerPort, '127.0.0.8', 'other-client'), 401)
      assert.deepEqual(await sourcesOf('other-client'), ['127.0.0.8'])
      await kept.close()
    })

    it('a peer that is not a balancer is served as itself, with no header read', async () => {
      assert.equal(await failedLogin(server.port, '127.0.0.2', 'direct'), 401)
      assert.deepEqual(await sourcesOf('direct'), ['127.0.0.2'])
    })

    it('a connection from a balancer address without the header is closed, and nothing is audited', async () => {
      await assert.rejects(failedLogin(server.port, '127.0.0.1', 'no-header'), (error: Error & {code?: string}) => /ECONNRESET|socket|closed|other side/i.test(`${error.code} ${error.message}`))
      assert.deepEqual(await sourcesOf('no-header'), [])
    })
  })
})
