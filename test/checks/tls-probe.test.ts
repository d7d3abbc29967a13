import {strict as assert} from 'node:assert'
import {connect} from 'node:net'
import {probeTls, type TlsProbeOptions} from '../../src/checks/tls-probe.js'
import {selfSigned, testCa, type TestCa, type TestCert} from './fixtures/certs.js'
import {listenTcp, listenTls, type Listener} from './fixtures/servers.js'

async function handshake(l: Listener, options: Omit<TlsProbeOptions, 'timeoutMs'>): ReturnType<typeof probeTls> {
  const socket = connect(l.port, l.host)
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  return probeTls(socket, {timeoutMs: 3000, ...options})
}

async function withTls<T>(cert: TestCert, fn: (l: Listener) => Promise<T>, chain: string[] = []): Promise<T> {
  const l = await listenTls(cert, '127.0.0.1', chain)
  try {
    return await fn(l)
  } finally {
    await l.close()
  }
}

describe('tls probe', function () {
  this.timeout(20_000)
  let ca: TestCa

  before(async () => {
    ca = await testCa('Tether Test Middlebox CA')
  })

  it('reports protocol, cipher, subject, SAN and a self-signed certificate as untrusted', async () => {
    const cert = await selfSigned({cn: 'device.example.com', dns: ['device.example.com']})
    const r = await withTls(cert, (l) => handshake(l, {host: 'device.example.com'}))
    assert.match(r.protocol ?? '', /^TLSv1\.[23]$/)
    assert.ok(r.cipher)
    assert.equal(r.subject, 'device.example.com')
    assert.deepEqual(r.san, ['DNS:device.example.com'])
    assert.equal(r.hostnameMatch, true)
    assert.equal(r.trusted, false)
    assert.equal(r.trustError, 'DEPTH_ZERO_SELF_SIGNED_CERT')
    assert.equal(r.interception, false)
    assert.equal(r.status, 'failed')
    assert.ok(r.daysToExpiry !== null && r.daysToExpiry >= 88 && r.daysToExpiry <= 90)
    assert.match(r.problems.join(';'), /self-signed/)
  })

  it('flags a hostname mismatch', async () => {
    const cert = await selfSigned({cn: 'other.example.com', dns: ['other.example.com']})
    const r = await withTls(cert, (l) => handshake(l, {host: 'device.example.com'}))
    assert.equal(r.hostnameMatch, false)
    assert.match(r.problems.join(';'), /does not name device\.example\.com/)
  })

  it('flags an expired certificate', async () => {
    const cert = await selfSigned({cn: 'device.example.com', dns: ['device.example.com'], notAfterDays: -3})
    const r = await withTls(cert, (l) => handshake(l, {host: 'device.example.com'}))
    assert.ok(r.daysToExpiry !== null && r.daysToExpiry < 0)
    assert.equal(r.status, 'failed')
    assert.match(r.problems.join(';'), /expired/)
  })

  it('flags a certificate from an unknown CA as possible TLS interception', async () => {
    const leaf = await ca.sign({cn: 'medrad.axeda.com', dns: ['medrad.axeda.com']})
    const r = await withTls(leaf, (l) => handshake(l, {host: 'medrad.axeda.com'}), [ca.cert])
    assert.equal(r.issuer, 'Tether Test Middlebox CA')
    assert.equal(r.trusted, false)
    assert.equal(r.interception, true)
    assert.match(r.problems.join(';'), /possible TLS interception/)
  })

  it('trusts a CA given with --ca, but still flags it when the profile expects another issuer', async () => {
    const leaf = await ca.sign({cn: 'medrad.axeda.com', dns: ['medrad.axeda.com'], ips: ['127.0.0.1']})
    const trusted = await withTls(leaf, (l) => handshake(l, {host: 'medrad.axeda.com', extraCa: [ca.cert]}))
    assert.equal(trusted.trusted, true)
    assert.equal(trusted.status, 'ok', trusted.problems.join(';'))
    const expected = await withTls(leaf, (l) => handshake(l, {host: 'medrad.axeda.com', extraCa: [ca.cert], expectedIssuers: ['DigiCert']}))
    assert.equal(expected.trusted, true)
    assert.equal(expected.interception, true)
    assert.match(expected.problems.join(';'), /not by DigiCert: possible TLS interception/)
    const ipOnly = await withTls(leaf, (l) => handshake(l, {ip: '127.0.0.1', extraCa: [ca.cert], expectedIssuers: ['middlebox']}))
    assert.equal(ipOnly.status, 'ok', ipOnly.problems.join(';'))
  })

  it('warns when the certificate expires soon', async () => {
    const leaf = await ca.sign({cn: 'soon.example.com', dns: ['soon.example.com'], notAfterDays: 5})
    const r = await withTls(leaf, (l) => handshake(l, {host: 'soon.example.com', extraCa: [ca.cert]}))
    assert.equal(r.status, 'warning')
    assert.match(r.problems.join(';'), /expires in [45] days/)
  })

  it('fails cleanly when the port does not speak TLS', async () => {
    const l = await listenTcp('127.0.0.1')
    try {
      const r = await handshake(l, {host: 'plain.example.com'})
      assert.equal(r.status, 'failed')
      assert.equal(r.protocol, null)
    } finally {
      await l.close()
    }
  })
})
