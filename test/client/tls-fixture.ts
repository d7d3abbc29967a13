import {createHash, webcrypto} from 'node:crypto'
import {createServer, type Server, type ServerOptions} from 'node:https'
import type {AddressInfo} from 'node:net'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {generateKeyPair, privateKeyToPem, randomSerial, x509} from '../../src/shared/x509.js'

export interface TestPki {
  caPem: string
  leafPem: string
  leafKeyPem: string
  caFingerprint: string
  leafFingerprint: string
}

const ALG = {name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256'}

/** A throw-away CA and a server certificate for 127.0.0.1 only (no "localhost"). */
export async function createTestPki(): Promise<TestPki> {
  const now = new Date(Date.now() - 60_000)
  const later = new Date(Date.now() + 86_400_000)
  const caKeys = await generateKeyPair()
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: 'CN=Tether Test CA',
    notBefore: now,
    notAfter: later,
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  })
  const leafKeys = await generateKeyPair()
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: 'CN=127.0.0.1',
    issuer: ca.subject,
    notBefore: now,
    notAfter: later,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{type: 'ip', value: '127.0.0.1'}]),
    ],
  })
  const fp = (c: x509.X509Certificate): string => createHash('sha256').update(Buffer.from(c.rawData)).digest('hex').toUpperCase().match(/../g)!.join(':')
  return {caPem: ca.toString('pem'), leafPem: leaf.toString('pem'), leafKeyPem: await privateKeyToPem(leafKeys.privateKey), caFingerprint: fp(ca), leafFingerprint: fp(leaf)}
}

/** An HTTPS server on 127.0.0.1:<ephemeral> presenting leaf + CA. */
export async function startHttpsServer(pki: TestPki, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{server: Server; url: string}> {
  const options: ServerOptions = {cert: `${pki.leafPem}\n${pki.caPem}`, key: pki.leafKeyPem}
  const server = createServer(options, handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {server, url: `https://127.0.0.1:${port}`}
}

export async function stopServer(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

void webcrypto
