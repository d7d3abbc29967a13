import {strict as assert} from 'node:assert'
import {X509Certificate} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createCa, issueServerCert, loadCa, signCsr, type PemPair} from '../../src/server/pki/ca.js'
import {loadOperatorCert} from '../../src/server/pki/operator-cert.js'
import {fingerprintOf, generateKeyPair, sameFingerprint, SIGNING_ALGORITHM, x509} from '../../src/shared/x509.js'

describe('server PKI', () => {
  let dir: string
  let root: PemPair

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-pki-'))
    root = await createCa('Test Root')
    await writeFile(join(dir, 'ca.crt'), root.certPem)
    await writeFile(join(dir, 'ca.key'), root.keyPem)
  })
  after(async () => rm(dir, {recursive: true, force: true}))

  it('creates a P-256 CA limited to signing end entities, fingerprinted like openssl', () => {
    const cert = new X509Certificate(root.certPem)
    assert.equal(cert.ca, true)
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
    assert.equal(root.fingerprint, cert.fingerprint256)
    assert.match(root.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    assert.ok(sameFingerprint(root.fingerprint, root.fingerprint.replace(/:/g, '').toLowerCase()))
    const parsed = new x509.X509Certificate(root.certPem)
    assert.equal(parsed.getExtension(x509.BasicConstraintsExtension)?.pathLength, 0)
  })

  it('issues a server certificate with DNS and IP SANs that verifies against the CA', async () => {
    const ca = await loadCa(join(dir, 'ca.crt'), join(dir, 'ca.key'))
    const server = await issueServerCert(ca, ['tether.example.org', '10.1.2.3', '::1'])
    const cert = new X509Certificate(server.certPem)
    assert.ok(cert.verify(new X509Certificate(root.certPem).publicKey))
    assert.equal(cert.ca, false)
    assert.equal(cert.checkHost('tether.example.org'), 'tether.example.org')
    assert.equal(cert.checkIP('10.1.2.3'), '10.1.2.3')
    assert.equal(cert.checkHost('other.example.org'), undefined)
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'])
    assert.equal(server.fingerprint, fingerprintOf(server.certPem))
  })

  it('signs a device CSR with the serial as the only identity and clientAuth only', async () => {
    const deviceCaPem = await createCa('Test Device CA')
    await writeFile(join(dir, 'dev.crt'), deviceCaPem.certPem)
    await writeFile(join(dir, 'dev.key'), deviceCaPem.keyPem)
    const deviceCa = await loadCa(join(dir, 'dev.crt'), join(dir, 'dev.key'))
    const keys = await generateKeyPair()
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({name: 'CN=admin, O=Evil', keys, signingAlgorithm: SIGNING_ALGORITHM})
    const issued = await signCsr(deviceCa, csr.toString('pem'), {serial: 'SN-1234'})
    const cert = new X509Certificate(issued.certPem)
    assert.match(cert.subject, /CN=SN-1234/)
    assert.doesNotMatch(cert.subject, /Evil|admin/)
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2'])
    assert.ok(cert.verify(new X509Certificate(deviceCaPem.certPem).publicKey))
    assert.ok(!cert.verify(new X509Certificate(root.certPem).publicKey), 'signed by the device CA, not the root')
  })

  it('refuses a CSR that is not PEM or whose signature does not verify', async () => {
    const deviceCa = await loadCa(join(dir, 'ca.crt'), join(dir, 'ca.key'))
    await assert.rejects(signCsr(deviceCa, 'not a csr', {serial: 'SN-1'}), {code: 'USAGE', message: /csr: not a PEM/})
    const keys = await generateKeyPair()
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({name: 'CN=x', keys, signingAlgorithm: SIGNING_ALGORITHM})
    const der = Buffer.from(new Uint8Array(csr.rawData)) // a copy: Buffer.from(ArrayBuffer) would share it
    der[der.length - 5] ^= 0xff // corrupt the signature
    const broken = x509.PemConverter.encode(der, 'CERTIFICATE REQUEST')
    await assert.rejects(signCsr(deviceCa, broken, {serial: 'SN-1'}), {code: 'USAGE'})
    await assert.rejects(signCsr(deviceCa, csr.toString('pem'), {serial: 'bad serial, CN=x'}), {code: 'USAGE', message: /serial/})
  })

  describe('operator-supplied certificates', () => {
    let serverFiles: {certFile: string; keyFile: string; caFile: string}

    before(async () => {
      const ca = await loadCa(join(dir, 'ca.crt'), join(dir, 'ca.key'))
      const server = await issueServerCert(ca, ['tether.hospital.local'])
      serverFiles = {certFile: join(dir, 'op.crt'), keyFile: join(dir, 'op.key'), caFile: join(dir, 'ca.crt')}
      await writeFile(serverFiles.certFile, server.certPem)
      await writeFile(serverFiles.keyFile, server.keyPem)
    })

    it('accepts a matching certificate, key and CA', async () => {
      const op = await loadOperatorCert(serverFiles, ['tether.hospital.local'])
      assert.equal(op.caFingerprint, root.fingerprint)
    })

    it('names the flag at fault: wrong key, uncovered hostname, foreign CA', async () => {
      const other = await createCa('Other')
      await writeFile(join(dir, 'other.key'), other.keyPem)
      await writeFile(join(dir, 'other.crt'), other.certPem)
      await assert.rejects(loadOperatorCert({...serverFiles, keyFile: join(dir, 'other.key')}, []), {code: 'USAGE', message: /--tls-key/})
      await assert.rejects(loadOperatorCert(serverFiles, ['elsewhere.example.org']), {code: 'USAGE', message: /--hostname.*elsewhere/})
      await assert.rejects(loadOperatorCert({...serverFiles, caFile: join(dir, 'other.crt')}, []), {code: 'USAGE', message: /--tls-ca/})
      await assert.rejects(loadOperatorCert({...serverFiles, certFile: join(dir, 'missing.crt')}, []), {code: 'USAGE', message: /--tls-cert: cannot read/})
    })
  })
})
