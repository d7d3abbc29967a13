import {createPrivateKey, X509Certificate} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {UsageError} from '../../shared/errors.js'
import {fingerprintOf} from '../../shared/x509.js'

export interface OperatorCertFiles {
  certFile: string
  keyFile: string
  caFile?: string
}

export interface OperatorCert {
  /** Leaf first, then any chain the operator supplied. */
  certPem: string
  keyPem: string
  caPem: string | null
  fingerprint: string
  caFingerprint: string | null
}

/**
 * Checks a certificate the operator brings (from the hospital's or vendor's PKI) before it
 * goes into the data dir: it parses, the key matches, it is valid now, it names every
 * hostname, and it chains to --tls-ca when given. Errors name the flag at fault.
 */
export async function loadOperatorCert(files: OperatorCertFiles, hostnames: readonly string[]): Promise<OperatorCert> {
  const certPem = await readText(files.certFile, '--tls-cert')
  const keyPem = await readText(files.keyFile, '--tls-key')
  const caPem = files.caFile ? await readText(files.caFile, '--tls-ca') : null

  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(certPem)
  } catch (error) {
    throw new UsageError(`--tls-cert: ${files.certFile} is not a PEM certificate`, {cause: error})
  }
  let key
  try {
    key = createPrivateKey(keyPem)
  } catch (error) {
    throw new UsageError(`--tls-key: ${files.keyFile} is not a PEM private key (encrypted keys are not supported)`, {cause: error})
  }
  if (!leaf.checkPrivateKey(key)) throw new UsageError(`--tls-key: ${files.keyFile} does not belong to the certificate in ${files.certFile}`)

  const now = Date.now()
  if (Date.parse(leaf.validTo) < now) throw new UsageError(`--tls-cert: the certificate expired on ${new Date(leaf.validTo).toISOString()}`)
  if (Date.parse(leaf.validFrom) > now) throw new UsageError(`--tls-cert: the certificate is not valid before ${new Date(leaf.validFrom).toISOString()}`)
  for (const name of hostnames) {
    const covered = isIP(name) ? leaf.checkIP(name) !== undefined : leaf.checkHost(name) !== undefined
    if (!covered) throw new UsageError(`--hostname: the certificate in ${files.certFile} does not cover "${name}"`)
  }

  let caFingerprint: string | null = null
  if (caPem) {
    let ca: X509Certificate
    try {
      ca = new X509Certificate(caPem)
    } catch (error) {
      throw new UsageError(`--tls-ca: ${files.caFile} is not a PEM certificate`, {cause: error})
    }
    if (!chainsTo(certPem, ca)) throw new UsageError(`--tls-ca: the certificate in ${files.certFile} was not issued by (a chain to) ${files.caFile}`)
    caFingerprint = fingerprintOf(caPem)
  }
  return {certPem, keyPem, caPem, fingerprint: fingerprintOf(certPem), caFingerprint}
}

/** Walks leaf → intermediates in the cert file until one is signed by `ca`. */
function chainsTo(chainPem: string, ca: X509Certificate): boolean {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  const certs = blocks.map((b) => new X509Certificate(b))
  return certs.some((c) => c.fingerprint256 === ca.fingerprint256 || (c.checkIssued(ca) && c.verify(ca.publicKey)))
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {cause: error})
  }
}
