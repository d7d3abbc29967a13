import {strict as assert} from 'node:assert'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {CheckPortsResult, PortProbe} from '../../../src/checks/check-ports.js'
import {testCa} from '../../checks/fixtures/certs.js'
import {closedPort, closeAll, listenTcp, listenTls, type Listener} from '../../checks/fixtures/servers.js'
import {startTinyproxy, tinyproxyAvailable, type Tinyproxy} from '../../checks/fixtures/tinyproxy.js'
import {runCheck} from './run.js'

const byPort = (doc: CheckPortsResult, port: number): PortProbe => doc.probes.find((p) => p.port === port)!

describe('tether check ports through a real proxy (tinyproxy)', function () {
  this.timeout(60_000)
  let dir: string
  let tls: Listener
  let other: Listener
  let closed: number
  let open: Tinyproxy | undefined
  let authed: Tinyproxy | undefined
  let args: string[]

  before(async function () {
    if (!tinyproxyAvailable()) this.skip()
    dir = await mkdtemp(join(tmpdir(), 'tether-check-proxy-'))
    const ca = await testCa('Vendor Test CA')
    const leaf = await ca.sign({cn: 'portal.vendor.test', dns: ['portal.vendor.test']})
    ;[tls, other, closed] = await Promise.all([listenTls(leaf, '127.0.0.1'), listenTcp('127.0.0.1'), closedPort('127.0.0.1')])
    // CONNECT is allowed to the TLS port and the closed port; the other open port gets 403.
    open = await startTinyproxy({connectPorts: [tls.port, closed]})
    authed = await startTinyproxy({connectPorts: [tls.port], auth: {user: 'alice', pass: 's3cret'}})
    await writeFile(join(dir, 'ca.pem'), ca.cert)
    await writeFile(join(dir, 'vendor.yaml'), `name: vendor\nendpoints:\n  - host: portal.vendor.test\n    ports: [${tls.port}, ${other.port}, ${closed}]\n`)
    args = ['check', 'ports', '--file', join(dir, 'vendor.yaml'), '--map', 'portal.vendor.test=127.0.0.1', '--tls-ports', String(tls.port), '--ca', join(dir, 'ca.pem'), '--timeout', '5s', '--json']
  })

  after(async () => {
    await Promise.all([open?.stop(), authed?.stop(), closeAll([tls, other])])
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('shows the proxy answer per port: tunnel, 403 by proxy policy, upstream failure', async () => {
    const r = await runCheck([...args, '--proxy', open!.url])
    assert.equal(r.code, 1, r.stderr)
    const doc = JSON.parse(r.stdout) as CheckPortsResult
    assert.equal(doc.proxy, open!.url)

    const ok = byPort(doc, tls.port)
    assert.equal(ok.proxy?.statusCode, 200)
    assert.equal(ok.tcp.status, 'open')
    assert.equal(ok.tls?.status, 'ok', ok.reasons.join(';'))
    assert.equal(ok.verdict, 'pass')

    const policy = byPort(doc, other.port)
    assert.equal(policy.proxy?.statusCode, 403)
    assert.equal(policy.proxy?.status, 'refused')
    assert.equal(policy.verdict, 'fail')
    assert.match(policy.reasons[0], /proxy: 403 .*the proxy policy blocks it, not the firewall/)
    assert.equal(other.connections, 0, 'the proxy refused before connecting')

    const upstream = byPort(doc, closed)
    assert.equal(upstream.verdict, 'fail')
    assert.ok(upstream.proxy && upstream.proxy.statusCode !== 200, JSON.stringify(upstream.proxy))
  })

  it('sends Basic credentials from HTTPS_PROXY and masks them in the output', async () => {
    const url = authed!.url.replace('http://', 'http://alice:s3cret@')
    const r = await runCheck(args, {env: {HTTPS_PROXY: url}})
    const doc = JSON.parse(r.stdout) as CheckPortsResult
    assert.equal(doc.proxy, authed!.url.replace('http://', 'http://alice:***@'))
    assert.doesNotMatch(r.stdout, /s3cret/)
    assert.equal(byPort(doc, tls.port).verdict, 'pass', JSON.stringify(byPort(doc, tls.port)))
    assert.equal(byPort(doc, other.port).proxy?.statusCode, 403)
  })

  it('reports missing or wrong credentials as an auth problem, not as a firewall problem', async () => {
    for (const url of [authed!.url, authed!.url.replace('http://', 'http://alice:wrong@')]) {
      const r = await runCheck([...args, '--proxy', url])
      const probe = byPort(JSON.parse(r.stdout) as CheckPortsResult, tls.port)
      // tinyproxy says 407 without credentials and 401 for wrong ones.
      assert.ok(probe.proxy?.statusCode === 407 || probe.proxy?.statusCode === 401, `${url}: ${probe.proxy?.statusCode}`)
      assert.equal(probe.proxy?.status, 'auth-required')
      assert.match(probe.reasons[0], /proxy credentials missing or wrong/)
    }
  })

  it('goes direct for NO_PROXY hosts, and the human table shows the proxy column', async () => {
    const r = await runCheck(args.filter((a) => a !== '--json'), {env: {HTTPS_PROXY: open!.url, NO_PROXY: '.vendor.test'}})
    assert.equal(r.code, 1)
    assert.match(r.stdout, /Proxy/)
    assert.match(r.stdout, /direct \(NO_PROXY\)/)
    assert.match(r.stdout, new RegExp(`${other.port} .*open`))
    assert.match(r.stderr, /remote support will NOT work/)
  })
})
