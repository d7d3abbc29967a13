import {readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {UsageError} from '../../shared/errors.js'
import {type CryptoKey, daysFromNow, fingerprintOf, generateKeyPair, importSigningKey, privateKeyToPem, randomSerial, SIGNING_ALGORITHM, x509} from '../../shared/x509.js'

/** PEM texts as written to disk. */
export interface PemPair {
  certPem: string
  keyPem: string
  /** SHA-256 of the certificate, colon-separated upper-case hex. */
  fingerprint: string
}

/** A CA loaded for signing. */
export interface LoadedCa {
  cert: x509.X509Certificate
  certPem: string
  key: CryptoKey
}

export const CA_VALIDITY_DAYS = 3650
export const SERVER_CERT_VALIDITY_DAYS = 825
export const DEVICE_CERT_VALIDITY_DAYS = 825

/** Escapes a value for an RFC 4514 distinguished name. */
function dnValue(value: string): string {
  return value.replace(/([,+"\\<>;=#])/g, '\\$1')
}

/** A self-signed ECDSA P-256 CA that may sign end-entity certificates only (pathLen 0). */
export async function createCa(commonName: string, validityDays = CA_VALIDITY_DAYS): Promise<PemPair> {
  const keys = await generateKeyPair()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${dnValue(commonName)}, O=Tether`,
    notBefore: daysFromNow(-1),
    notAfter: daysFromNow(validityDays),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  const certPem = cert.toString('pem') + '\n'
  return {certPem, keyPem: await privateKeyToPem(keys.privateKey), fingerprint: fingerprintOf(certPem)}
}

export async function loadCa(certFile: string, keyFile: string): Promise<LoadedCa> {
  const certPem = await readFile(certFile, 'utf8')
  const cert = new x509.X509Certificate(certPem)
  const key = await importSigningKey(await readFile(keyFile, 'utf8'))
  return {cert, certPem, key}
}

/** DNS names and IP addresses as subjectAltName entries. */
export function subjectAltNames(hostnames: readonly string[]): x509.JsonGeneralName[] {
  return hostnames.map((name) => ({type: isIP(name) ? 'ip' : 'dns', value: name}))
}

/** The HTTPS server certificate for `hostnames` (the first is also the CN). */
export async function issueServerCert(ca: LoadedCa, hostnames: readonly string[], validityDays = SERVER_CERT_VALIDITY_DAYS): Promise<PemPair> {
  if (hostnames.length === 0) throw new UsageError('--hostname: at least one name is needed for the server certificate')
  const keys = await generateKeyPair()
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${dnValue(hostnames[0])}, O=Tether`,
    issuer: ca.cert.subject,
    notBefore: daysFromNow(-1),
    notAfter: minDate(daysFromNow(validityDays), ca.cert.notAfter),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(subjectAltNames(hostnames)),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  })
  const certPem = cert.toString('pem') + '\n'
  return {certPem, keyPem: await privateKeyToPem(keys.privateKey), fingerprint: fingerprintOf(certPem)}
}

export interface DeviceCertConstraints {
  /** The device serial: becomes the CN, whatever the CSR asked for. */
  serial: string
  validityDays?: number
}

export interface IssuedCert {
  certPem: string
  fingerprint: string
  serialNumber: string
  notAfter: string
}

/**
 * Signs an agent's PKCS#10 request with the device CA. Only the CSR's public key is used: the
 * subject comes from the registry (the serial) and the extensions are fixed (clientAuth), so
 * a device cannot ask for another identity or for CA rights.
 */
export async function signCsr(deviceCa: LoadedCa, csrPem: string, constraints: DeviceCertConstraints): Promise<IssuedCert> {
  let csr: x509.Pkcs10CertificateRequest
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem)
  } catch (error) {
    throw new UsageError(`csr: not a PEM certificate request (${(error as Error).message})`, {cause: error})
  }
  if (!(await csr.verify())) throw new UsageError('csr: the request signature does not verify')
  const algorithm = csr.publicKey.algorithm as unknown as {name: string; namedCurve?: string; modulusLength?: number}
  const acceptable =
    (algorithm.name === 'ECDSA' && ['P-256', 'P-384'].includes(algorithm.namedCurve ?? '')) ||
    (algorithm.name.startsWith('RSA') && (algorithm.modulusLength ?? 0) >= 2048)
  if (!acceptable) throw new UsageError('csr: key must be ECDSA P-256/P-384 or RSA of at least 2048 bits')
  if (!/^[\w.-]{1,128}$/.test(constraints.serial)) throw new UsageError(`serial: "${constraints.serial}" cannot be a certificate name`)

  const publicKey = await csr.publicKey.export()
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${constraints.serial}, OU=devices, O=Tether`,
    issuer: deviceCa.cert.subject,
    notBefore: daysFromNow(-1),
    notAfter: minDate(daysFromNow(constraints.validityDays ?? DEVICE_CERT_VALIDITY_DAYS), deviceCa.cert.notAfter),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey,
    signingKey: deviceCa.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(deviceCa.cert),
    ],
  })
  const certPem = cert.toString('pem') + '\n'
  return {certPem, fingerprint: fingerprintOf(certPem), serialNumber: cert.serialNumber, notAfter: cert.notAfter.toISOString()}
}

function minDate(a: Date, b: Date): Date {
  return a.getTime() < b.getTime() ? a : b
}
