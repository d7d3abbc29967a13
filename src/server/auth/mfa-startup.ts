import {type Kysely, sql, type Transaction} from 'kysely'
import {UsageError} from '../../shared/errors.js'
import type {DialectName} from '../db/connect.js'
import type {Database} from '../db/schema.js'
import {createMfaKey, type MfaKey, readMfaKey} from './mfa-key.js'
import {describeStored, SEALED_VERSION, sealTotpSecret} from './mfa-secret.js'

/** "tether" in ASCII, then 2 = MFA sealing (1 is the audit chain, src/server/audit/chain.ts). */
export const PG_LOCK = sql.raw('pg_advisory_xact_lock(1952805992, 2)')

export interface MfaStartup {
  key: MfaKey
  /** The key file did not exist and was made now (a data dir from before sealed secrets). */
  created: boolean
  /** Plaintext secrets sealed by this start. */
  sealed: number
}

type Db = Kysely<Database> | Transaction<Database>

/**
 * Runs once at server start, before any request: loads the MFA key, refuses one that does not
 * match the secrets already sealed, and seals the plaintext secrets older versions left.
 *
 * A missing key file is created only while no secret is sealed yet: a fresh key beside sealed
 * secrets would lock every MFA user out, so that is a refusal naming the file to copy.
 *
 * On PostgreSQL every node runs this under one advisory lock, so nodes started together agree:
 * the first creates the key or seals, the next ones check their key against its rows. Each
 * UPDATE is also conditional on the plaintext it read, so a row changed meanwhile (an old node
 * enrolling a user during an upgrade) is neither overwritten nor sealed twice.
 */
export async function prepareMfaSecrets(db: Kysely<Database>, dialect: DialectName, keyFile: string): Promise<MfaStartup> {
  if (dialect !== 'postgres') return prepare(db, keyFile)
  return db.transaction().execute(async (trx) => {
    await sql`select ${PG_LOCK}`.execute(trx)
    return prepare(trx, keyFile)
  })
}

async function prepare(db: Db, keyFile: string): Promise<MfaStartup> {
  const rows = await db.selectFrom('users').select(['id', 'mfa_secret']).where('mfa_secret', 'is not', null).execute()
  const stored = rows.map((row) => ({id: row.id, value: row.mfa_secret!, ...describeStored(row.mfa_secret!)}))
  const sealedWith = new Set(stored.flatMap((s) => (s.sealed ? [`${s.version}:${s.keyId}`] : [])))
  const unknown = [...sealedWith].filter((k) => !k.startsWith(`${SEALED_VERSION}:`))
  if (unknown.length > 0) {
    throw new UsageError(`TOTP secrets in the database are sealed in a format this tether does not know (${unknown.join(', ')}): upgrade tether`, {code: 'MFA_KEY'})
  }

  let key = await readMfaKey(keyFile)
  let created = false
  if (!key) {
    if (sealedWith.size > 0) {
      throw new UsageError(`${keyFile} is missing, but TOTP secrets in the database are sealed with MFA key ${keyNames(sealedWith)}: copy that file from the node (or the data dir backup) that sealed them`, {code: 'MFA_KEY'})
    }
    key = await createMfaKey(keyFile)
    created = true
  }
  const ours = `${SEALED_VERSION}:${key.id}`
  const foreign = new Set([...sealedWith].filter((k) => k !== ours))
  if (foreign.size > 0) {
    throw new UsageError(`${keyFile} is MFA key ${key.id}, but TOTP secrets in the database are sealed with MFA key ${keyNames(foreign)}: copy the key file from the node (or the data dir backup) that sealed them`, {code: 'MFA_KEY'})
  }

  let sealed = 0
  for (const row of stored) {
    if (row.sealed) continue
    const result = await db
      .updateTable('users')
      .set({mfa_secret: sealTotpSecret(key, row.id, row.value)})
      .where('id', '=', row.id)
      .where('mfa_secret', '=', row.value)
      .executeTakeFirst()
    sealed += Number(result.numUpdatedRows)
  }
  return {key, created, sealed}
}

/** Bare key ids (every entry is of the current format by then), as logs and errors show them. */
function keyNames(keys: Set<string>): string {
  return [...keys].map((k) => k.slice(SEALED_VERSION.length + 1)).join(', ')
}
