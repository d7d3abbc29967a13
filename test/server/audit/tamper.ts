import type {Kysely} from 'kysely'
import {eventHash, GENESIS_HASH} from '../../../src/server/audit/canonical.js'
import {auditDb} from '../../../src/server/audit/tables.js'
import type {Database} from '../../../src/server/db/schema.js'

/**
 * What someone with write access to the database (and nothing else) can do to the audit trail,
 * done here with plain SQL as they would: the attacks docs/audit-format.md lists, for the tests
 * that show which of them `verify` catches alone and which need a checkpoint or a witness.
 */
export type Db = Kysely<Database>

export async function rowAt(db: Db, seq: number) {
  return db.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow()
}

/** Edit one event's content in place (its stored hash no longer matches). */
export async function editEvent(db: Db, seq: number): Promise<void> {
  await db.updateTable('audit_events').set({actor: 'mallory'}).where('seq', '=', seq).execute()
}

/** Delete one event from the middle. */
export async function deleteEvent(db: Db, seq: number): Promise<void> {
  await db.deleteFrom('audit_events').where('seq', '=', seq).execute()
}

/**
 * Insert a forged event past the head, hashed and linked to the current last event, so it looks
 * like a perfect continuation of the chain (but the head does not know it).
 */
export async function insertForgedPastHead(db: Db): Promise<number> {
  const head = await db.selectFrom('audit_events').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow()
  const row = {...head, id: '00000000-0000-7000-8000-000000000001', seq: Number(head.seq) + 1, actor: 'mallory', action: 'auth.login', prev_hash: head.hash, hash: ''}
  row.hash = eventHash(row)
  await db.insertInto('audit_events').values(row).execute()
  return row.seq
}

/**
 * Insert a copy of the first event below seq 1 (seq 0 and a negative seq): rows the walk from
 * the genesis never reaches, and no append ever writes.
 */
export async function insertBelowFirst(db: Db): Promise<number[]> {
  const first = await rowAt(db, 1)
  const rows = [0, -5].map((seq, i) => ({...first, id: `00000000-0000-7000-8000-00000000000${i + 2}`, seq, actor: 'mallory'}))
  for (const row of rows) await db.insertInto('audit_events').values({...row, hash: eventHash(row)}).execute()
  return rows.map((r) => r.seq)
}

/** Delete the newest events and roll the head back to the new last one: undetectable by the chain alone. */
export async function truncateAndRollBackHead(db: Db, keep: number): Promise<void> {
  await db.deleteFrom('audit_events').where('seq', '>', keep).execute()
  const last = keep === 0 ? null : await rowAt(db, keep)
  await auditDb(db).updateTable('audit_head').set({seq: keep, hash: last?.hash ?? GENESIS_HASH}).where('id', '=', 1).execute()
}

/**
 * Rewrite an event and recompute every later hash and link, and the head: a chain as internally
 * consistent as the original, which only something held outside the database can expose.
 */
export async function rewriteAndRecompute(db: Db, seq: number): Promise<void> {
  const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>=', seq).orderBy('seq').execute()
  let prev = seq === 1 ? GENESIS_HASH : (await rowAt(db, seq - 1)).hash
  for (const r of rows) {
    const row = {...r, seq: Number(r.seq), prev_hash: prev, actor: Number(r.seq) === seq ? 'mallory' : r.actor, hash: ''}
    row.hash = eventHash(row)
    await db.updateTable('audit_events').set({actor: row.actor, prev_hash: row.prev_hash, hash: row.hash}).where('seq', '=', row.seq).execute()
    prev = row.hash
  }
  await auditDb(db).updateTable('audit_head').set({hash: prev}).where('id', '=', 1).execute()
}

/** Make every audit insert fail, as a full disk or a broken replica would (a trigger, so the database itself refuses). */
export async function breakAuditInserts(db: Db, dialect: 'sqlite' | 'postgres'): Promise<() => Promise<void>> {
  const {sql} = await import('kysely')
  if (dialect === 'sqlite') {
    await sql`create trigger audit_fail before insert on audit_events begin select raise(abort, 'audit storage failed'); end`.execute(db)
    return async () => void (await sql`drop trigger audit_fail`.execute(db))
  }
  await sql`create function audit_fail() returns trigger language plpgsql as $$ begin raise exception 'audit storage failed'; end $$`.execute(db)
  await sql`create trigger audit_fail before insert on audit_events for each row execute function audit_fail()`.execute(db)
  return async () => {
    await sql`drop trigger audit_fail on audit_events`.execute(db)
    await sql`drop function audit_fail()`.execute(db)
  }
}

export async function headOf(db: Db): Promise<{seq: number; hash: string}> {
  const head = await auditDb(db).selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow()
  return {seq: Number(head.seq), hash: head.hash}
}
