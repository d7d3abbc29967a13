import type {Kysely} from 'kysely'
import type {Metadata} from '@tufjs/models'
import {parseMetadata, type RoleName, type RoleTypes, serializeMetadata} from '../../shared/tuf/index.js'
import type {Database} from '../db/schema.js'

export interface StoredMetadata {
  role: RoleName
  version: number
  /** The exact bytes served. */
  bytes: Buffer
  expires: string
}

/**
 * The TUF documents the server serves, one row per role and version (migration 008). Rows are
 * only ever added: the root chain stays whole for devices that missed rotations, and the latest
 * row of a role is what `<role>.json` serves.
 */
export async function latestMetadata(db: Kysely<Database>, role: RoleName): Promise<StoredMetadata | undefined> {
  const row = await db.selectFrom('tuf_metadata').selectAll().where('role', '=', role).orderBy('version', 'desc').limit(1).executeTakeFirst()
  return row && stored(row)
}

export async function metadataVersion(db: Kysely<Database>, role: RoleName, version: number): Promise<StoredMetadata | undefined> {
  const row = await db.selectFrom('tuf_metadata').selectAll().where('role', '=', role).where('version', '=', version).executeTakeFirst()
  return row && stored(row)
}

/** The latest document of a role, parsed (signatures are not re-checked: it was checked before it was stored). */
export async function latestParsed<R extends RoleName>(db: Kysely<Database>, role: R): Promise<Metadata<RoleTypes[R]> | undefined> {
  const row = await latestMetadata(db, role)
  return row && parseMetadata(role, JSON.parse(row.bytes.toString('utf8')), `stored ${role}.json v${row.version}`)
}

/** Stores a document as the bytes it will be served as; returns those bytes (snapshot/timestamp hash them). */
export async function storeMetadata(db: Kysely<Database>, role: RoleName, md: Metadata<RoleTypes[RoleName]>, now: Date): Promise<Buffer> {
  const bytes = serializeMetadata(md)
  await db
    .insertInto('tuf_metadata')
    .values({role, version: md.signed.version, json: bytes.toString('utf8'), expires: md.signed.expires, created_at: now.toISOString()})
    .execute()
  return bytes
}

function stored(row: {role: RoleName; version: number | string; json: string; expires: string}): StoredMetadata {
  return {role: row.role, version: Number(row.version), bytes: Buffer.from(row.json, 'utf8'), expires: row.expires}
}
