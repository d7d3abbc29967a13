import type {Kysely} from 'kysely'
import type {Database} from '../db/schema.js'
import {type LoadedCa, signCsr} from '../pki/ca.js'
import {generateKeyPair, privateKeyToPem, SIGNING_ALGORITHM, x509} from '../../shared/x509.js'

export interface DirectDevice {
  serial: string
  keyPem: string
  certPem: string
  fingerprint: string
}

/** A PKCS#10 request for CN=serial with a fresh P-256 key, as the agent builds it. */
export async function createDeviceCsr(serial: string): Promise<{csrPem: string; keyPem: string}> {
  const keys = await generateKeyPair()
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({name: `CN=${serial}`, keys, signingAlgorithm: SIGNING_ALGORITHM})
  return {csrPem: csr.toString('pem') + '\n', keyPem: await privateKeyToPem(keys.privateKey)}
}

/**
 * The fast path of tests and bench/agent-fanin: the device CA signs a locally made key and the
 * registry row is marked enrolled, without tokens or HTTP. Production devices enroll through
 * POST /api/v1/agent/enroll so their key never leaves them.
 */
export async function issueDeviceDirect(
  db: Kysely<Database>,
  deviceCa: LoadedCa,
  input: {serial: string; customer: string; model?: string; validityDays?: number},
): Promise<DirectDevice> {
  const {csrPem, keyPem} = await createDeviceCsr(input.serial)
  const issued = await signCsr(deviceCa, csrPem, {serial: input.serial, validityDays: input.validityDays})
  const now = new Date().toISOString()
  const existing = await db.selectFrom('devices').select('serial').where('serial', '=', input.serial).executeTakeFirst()
  if (existing) {
    await db.updateTable('devices').set({enrolled_at: now, revoked_at: null, cert_fingerprint: issued.fingerprint}).where('serial', '=', input.serial).execute()
  } else {
    await db
      .insertInto('devices')
      .values({
        serial: input.serial,
        model: input.model ?? 'sim',
        customer_id: input.customer,
        site_id: null,
        labels: '{}',
        created_at: now,
        enrolled_at: now,
        revoked_at: null,
        cert_fingerprint: issued.fingerprint,
        last_seen_at: null,
        inventory: null,
      })
      .execute()
  }
  return {serial: input.serial, keyPem, certPem: issued.certPem, fingerprint: issued.fingerprint}
}
