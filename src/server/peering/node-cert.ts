import {X509Certificate} from 'node:crypto'
import {access} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import type {Duplex} from 'node:stream'
import {TLSSocket} from 'node:tls'
import {type LoadedCa, loadCa} from '../pki/ca.js'
import {daysFromNow, generateKeyPair, privateKeyToPem, randomSerial, SIGNING_ALGORITHM, x509} from '../../shared/x509.js'

/** The OU that marks a node's client certificate; devices' certificates say OU=devices. */
export const NODE_OU = 'nodes'
const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2'
/** Kept in memory only and re-issued well before it runs out, so it may be short-lived. */
const NODE_CERT_DAYS = 30
const RENEW_WHEN_DAYS_LEFT = 15

/** What a node presents when it dials another node, and what it trusts there. */
export interface NodeTlsMaterial {
  cert: string
  key: string
  /** The server CA: the other node's HTTPS certificate must chain to it. */
  ca: string
}

/**
 * This node's client identity towards the other nodes (proxy peering, Teleport's model): a
 * certificate issued at start from the server CA (`tls/ca.key`, which every node has in its copy of
 * the data dir), CN = node id, OU = nodes, clientAuth only. The key is made in memory and never
 * written anywhere. The server certificate itself cannot serve: it is serverAuth only.
 *
 * Null when the data dir has no server CA key (an operator-supplied certificate): such a node
 * cannot forward tunnel legs, and says so when one would be needed.
 */
export class NodeCredentials {
  private current: {material: NodeTlsMaterial; notAfter: number} | null = null

  private constructor(
    private readonly ca: LoadedCa,
    private readonly nodeId: () => string,
    /** SHA-256 of the server CA as Node formats it (AA:BB:…), to recognise a node's certificate. */
    readonly caFingerprint: string,
  ) {}

  static async load(caFile: string, nodeId: () => string): Promise<NodeCredentials | null> {
    const keyFile = serverCaKeyFile(caFile)
    if (!(await exists(keyFile))) return null
    const ca = await loadCa(caFile, keyFile)
    return new NodeCredentials(ca, nodeId, new X509Certificate(ca.certPem).fingerprint256)
  }

  async material(): Promise<NodeTlsMaterial> {
    if (this.current && this.current.notAfter - Date.now() > RENEW_WHEN_DAYS_LEFT * 86_400_000) return this.current.material
    const keys = await generateKeyPair()
    const notAfter = daysFromNow(NODE_CERT_DAYS)
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${this.nodeId().replace(/([,+"\\<>;=#])/g, '\\$1')}, OU=${NODE_OU}, O=Tether`,
      issuer: this.ca.cert.subject,
      notBefore: daysFromNow(-1),
      notAfter: notAfter < this.ca.cert.notAfter ? notAfter : this.ca.cert.notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: this.ca.key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ],
    })
    const material = {cert: cert.toString('pem'), key: await privateKeyToPem(keys.privateKey), ca: this.ca.certPem}
    this.current = {material, notAfter: cert.notAfter.getTime()}
    return material
  }
}

/** `tls/ca.key` beside `tls/ca.crt`: present when `server init` made the server CA itself. */
export function serverCaKeyFile(caFile: string): string {
  return join(dirname(caFile), 'ca.key')
}

/**
 * The node whose certificate this connection presented, or null: a verified client certificate
 * issued by the server CA itself (not the device CA, which the HTTPS port trusts too), with
 * OU=nodes and clientAuth. Only such a connection may carry forwarded tunnel legs.
 */
export function nodePeerOf(socket: Duplex, caFingerprint: string | undefined): string | null {
  if (!caFingerprint || !(socket instanceof TLSSocket) || !socket.authorized) return null
  const cert = socket.getPeerCertificate(true)
  if (!cert || Object.keys(cert).length === 0) return null
  if (cert.issuerCertificate?.fingerprint256 !== caFingerprint) return null
  const ou = cert.subject?.OU
  if (!(Array.isArray(ou) ? ou.includes(NODE_OU) : ou === NODE_OU)) return null
  if (!(cert.ext_key_usage ?? []).includes(CLIENT_AUTH_OID)) return null
  const cn = Array.isArray(cert.subject.CN) ? cert.subject.CN[0] : cert.subject.CN
  return cn || null
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false // no such key: this data dir's certificate came from the operator's PKI
  }
}
