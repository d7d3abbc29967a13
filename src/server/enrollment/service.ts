import {readFile} from 'node:fs/promises'
import type {Kysely} from 'kysely'
import type {CreateEnrollTokenRequest} from '../../protocol/api/enrollment.js'
import type {AgentEnrollResponse} from '../../protocol/agent/enroll.js'
import {AuthError, ConflictError, NotFoundError, TetherError, UsageError} from '../../shared/errors.js'
import type {Scope} from '../auth/principal.js'
import {fieldError} from '../auth/request-context.js'
import {customerVisible, inScope} from '../auth/scope.js'
import type {ServerConfig} from '../config.js'
import type {Database, Device} from '../db/schema.js'
import {type LoadedCa, loadCa, signCsr} from '../pki/ca.js'
import {x509} from '../../shared/x509.js'
import {inTransaction} from '../db/transaction.js'
import {hashEnrollToken, newEnrollToken} from './tokens.js'

type Db = Kysely<Database>

export const DEFAULT_ENROLL_TOKEN_TTL_SECONDS = 24 * 3600

/** A token that existed but expired: 410 Gone, so the agent can say "ask for a new token". */
export class TokenExpiredError extends TetherError {
  constructor(message: string) {
    super(message, {code: 'TOKEN_EXPIRED', exitCode: 3, suggestions: ['Ask an administrator for a new token: tether devices enroll-token --serial …']})
  }
}

export interface CreatedEnrollToken {
  device: Device
  token: string
  expiresAt: string
}

/**
 * Creates the device row (or updates model/site of an existing one of the same customer) and
 * a one-time token for it. Earlier unused tokens of the device are dropped: one is valid at a time.
 */
export async function createEnrollToken(db: Db, scope: Scope, actor: string, input: CreateEnrollTokenRequest, now = new Date()): Promise<CreatedEnrollToken> {
  const customer = await db.selectFrom('customers').select('id').where('id', '=', input.customer).executeTakeFirst()
  if (!customer || !customerVisible(scope, input.customer)) throw fieldError('body.customer', `no customer "${input.customer}"`)
  const siteId = input.site ?? null
  if (siteId !== null) {
    const site = await db.selectFrom('sites').select('customer_id').where('id', '=', siteId).executeTakeFirst()
    if (!site || site.customer_id !== input.customer) throw fieldError('body.site', `no site "${siteId}" of customer "${input.customer}"`)
  }
  if (!inScope(scope, input.customer, siteId)) throw fieldError(siteId === null ? 'body.customer' : 'body.site', 'outside your scope')

  const token = newEnrollToken(input.serial)
  const createdAt = now.toISOString()
  const expiresAt = new Date(now.getTime() + (input.ttlSeconds ?? DEFAULT_ENROLL_TOKEN_TTL_SECONDS) * 1000).toISOString()
  const device = await inTransaction(db, async (trx) => {
    const existing = await trx.selectFrom('devices').selectAll().where('serial', '=', input.serial).executeTakeFirst()
    if (existing && existing.customer_id !== input.customer) {
      throw new ConflictError(`device "${input.serial}" is registered to another customer`)
    }
    if (existing) {
      // A device already registered keeps its model unless a new one is given.
      await trx.updateTable('devices').set({model: input.model ?? existing.model, site_id: siteId}).where('serial', '=', input.serial).execute()
    } else if (input.model === undefined) {
      throw fieldError('body.model', `device "${input.serial}" is not registered yet: give its model`)
    } else {
      await trx
        .insertInto('devices')
        .values({
          serial: input.serial,
          model: input.model,
          customer_id: input.customer,
          site_id: siteId,
          labels: '{}',
          created_at: createdAt,
          enrolled_at: null,
          revoked_at: null,
          cert_fingerprint: null,
          last_seen_at: null,
          inventory: null,
        })
        .execute()
    }
    await trx.deleteFrom('enrollment_tokens').where('serial', '=', input.serial).where('used_at', 'is', null).execute()
    await trx
      .insertInto('enrollment_tokens')
      .values({token_hash: hashEnrollToken(token), serial: input.serial, created_by: actor, created_at: createdAt, expires_at: expiresAt, used_at: null})
      .execute()
    return trx.selectFrom('devices').selectAll().where('serial', '=', input.serial).executeTakeFirstOrThrow()
  })
  return {device, token, expiresAt}
}

/** The CN of a PEM CSR, or a 400 naming body.csr. */
export function csrCommonName(csrPem: string): string {
  let csr: x509.Pkcs10CertificateRequest
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem)
  } catch (error) {
    throw fieldError('body.csr', `not a PEM certificate request (${(error as Error).message})`)
  }
  const cn = csr.subjectName.getField('CN')[0]
  if (!cn) throw fieldError('body.csr', 'the request has no CN (it must be the device serial)')
  return cn
}

export interface EnrollResult extends AgentEnrollResponse {
  device: Device
}

/** A checked enrollment with its signed certificate, ready to be claimed (claimEnrollment). */
export interface PreparedEnrollment {
  tokenHash: string
  serial: string
  certPem: string
  fingerprint: string
  caChain: string
  serverCa: string
}

/**
 * Checks a device's CSR against a one-time token and signs it, changing nothing yet. Order
 * matters: everything that can fail on bad input (expiry, CSR, serial) is checked before the
 * token is consumed; the signing (CA key from disk) happens here, outside the write transaction.
 */
export async function prepareEnrollment(db: Db, config: ServerConfig, input: {token: string; csr: string}, now = new Date()): Promise<PreparedEnrollment> {
  const tokenHash = hashEnrollToken(input.token)
  const row = await db.selectFrom('enrollment_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()
  if (!row || row.used_at !== null) throw new AuthError('enrollment token unknown or already used', {suggestions: ['Ask an administrator for a new token.']})
  if (row.expires_at <= now.toISOString()) throw new TokenExpiredError(`enrollment token expired at ${row.expires_at}`)
  const cn = csrCommonName(input.csr)
  if (cn !== row.serial) throw fieldError('body.csr', `the serial in the CSR ("${cn}") does not match the token's serial ("${row.serial}")`)

  const deviceCa = await loadDeviceCa(config)
  let issued
  try {
    issued = await signCsr(deviceCa, input.csr, {serial: row.serial})
  } catch (error) {
    if (error instanceof UsageError) throw fieldError('body.csr', error.message.replace(/^csr: /, ''))
    throw error
  }
  return {tokenHash, serial: row.serial, certPem: issued.certPem, fingerprint: issued.fingerprint, caChain: deviceCa.certPem, serverCa: await serverCaPem(config)}
}

/**
 * Consumes the token and records the new certificate, with a conditional update so two
 * concurrent uses of one token cannot both succeed (in the caller's transaction, if any).
 */
export async function claimEnrollment(db: Db, prepared: PreparedEnrollment, now = new Date()): Promise<EnrollResult> {
  const at = now.toISOString()
  const device = await inTransaction(db, async (trx) => {
    const claimed = await trx.updateTable('enrollment_tokens').set({used_at: at}).where('token_hash', '=', prepared.tokenHash).where('used_at', 'is', null).executeTakeFirst()
    if (Number(claimed.numUpdatedRows) !== 1) throw new AuthError('enrollment token unknown or already used')
    // A re-enrollment replaces the certificate; the old one stops working (fingerprint check).
    await trx.updateTable('devices').set({enrolled_at: at, revoked_at: null, cert_fingerprint: prepared.fingerprint}).where('serial', '=', prepared.serial).execute()
    const d = await trx.selectFrom('devices').selectAll().where('serial', '=', prepared.serial).executeTakeFirst()
    if (!d) throw new NotFoundError(`device "${prepared.serial}" was deleted`)
    return d
  })
  const {serial, certPem: certificate, caChain, serverCa, fingerprint} = prepared
  return {device, serial, certificate, caChain, serverCa, fingerprint, model: device.model}
}

async function loadDeviceCa(config: ServerConfig): Promise<LoadedCa> {
  return loadCa(config.deviceCa.certFile, config.deviceCa.keyFile)
}

/**
 * What the agent pins for the server: the root CA of the server certificate, or, when the
 * operator supplied a certificate without its CA, the server certificate itself.
 */
async function serverCaPem(config: ServerConfig): Promise<string> {
  try {
    return await readFile(config.tls.caFile, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    return readFile(config.tls.certFile, 'utf8')
  }
}

export interface RevokeResult {
  device: Device
  revokedAt: string
  alreadyRevoked: boolean
}

/** Marks the device revoked (idempotent: a second call returns the first time). */
export async function revokeDevice(db: Db, scope: Scope, serial: string, now = new Date()): Promise<RevokeResult> {
  const device = await db.selectFrom('devices').selectAll().where('serial', '=', serial).executeTakeFirst()
  if (!device || !inScope(scope, device.customer_id, device.site_id)) throw new NotFoundError(`no device "${serial}"`)
  if (device.revoked_at !== null) return {device, revokedAt: device.revoked_at, alreadyRevoked: true}
  const revokedAt = now.toISOString()
  await inTransaction(db, async (trx) => {
    await trx.updateTable('devices').set({revoked_at: revokedAt}).where('serial', '=', serial).execute()
    // Outstanding tokens would let the revoked device enroll again by itself.
    await trx.deleteFrom('enrollment_tokens').where('serial', '=', serial).where('used_at', 'is', null).execute()
  })
  return {device: {...device, revoked_at: revokedAt}, revokedAt, alreadyRevoked: false}
}

