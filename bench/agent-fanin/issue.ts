import type {Kysely} from 'kysely'
import type {Database} from '../../src/server/db/schema.js'
import type {LoadedCa} from '../../src/server/pki/ca.js'
import {daysFromNow, fingerprintOf, generateKeyPair, privateKeyToPem, randomSerial, SIGNING_ALGORITHM, x509} from '../../src/shared/x509.js'

/**
 * The bench's fast path: one key pair for every simulated device (key generation is not what
 * is measured), one certificate per serial signed by the real device CA with the same profile
 * as signCsr (CN = serial, clientAuth), and registry rows marked enrolled with the fingerprint.
 */
export async function issueBenchCerts(db: Kysely<Database>, deviceCa: LoadedCa, count: number): Promise<{keyPem: string; lines: string[]}> {
  const keys = await generateKeyPair()
  const keyPem = await privateKeyToPem(keys.privateKey)
  const now = new Date().toISOString()
  await db.insertInto('customers').values({id: 'bench', name: 'Bench', created_at: now}).execute()
  const lines: string[] = []
  const rows: Array<Parameters<ReturnType<Kysely<Database>['insertInto']>['values']>[0]> = []
  for (let i = 0; i < count; i++) {
    const serial = `sim-${String(i).padStart(6, '0')}`
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${serial}, OU=devices, O=Tether`,
      issuer: deviceCa.cert.subject,
      notBefore: daysFromNow(-1),
      notAfter: daysFromNow(30),
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: deviceCa.key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ],
    })
    const certPem = cert.toString('pem') + '\n'
    lines.push(JSON.stringify({serial, certPem}))
    rows.push({
      serial,
      model: 'sim',
      customer_id: 'bench',
      site_id: null,
      labels: '{}',
      created_at: now,
      enrolled_at: now,
      revoked_at: null,
      cert_fingerprint: fingerprintOf(certPem),
      last_seen_at: null,
      inventory: null,
    } as never)
  }
  for (let i = 0; i < rows.length; i += 500) await db.insertInto('devices').values(rows.slice(i, i + 500) as never).execute()
  return {keyPem, lines}
}
