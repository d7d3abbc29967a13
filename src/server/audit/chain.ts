import {randomBytes} from 'node:crypto'
import {type Kysely, sql} from 'kysely'
import type {Readable} from 'node:stream'
import {UnavailableError} from '../../shared/errors.js'
import {storableText} from '../../shared/input-check.js'
import type {DialectName} from '../db/connect.js'
import type {AuditEventRow, Database} from '../db/schema.js'
import {writeTransaction} from '../db/transaction.js'
import {canonicalDetails, eventHash} from './canonical.js'
import {type ExportFormat, type ExportStarted, listEvents, startExport} from './export.js'
import type {AuditFilter} from './query.js'
import {type AuditDatabase, type AuditStore, auditDb, missingHead, rowToEvent} from './tables.js'
import type {AuditEvent, AuditInput, AuditLog, AuditPage, RecordAudit} from './types.js'
import {type VerifyResult, verifyChain} from './verify.js'

/**
 * Every node appending to one PostgreSQL database takes this transaction-scoped advisory lock
 * before reading the head, so the chain never forks ("tether" in ASCII, then 1 = audit).
 */
const PG_LOCK = sql.raw('pg_advisory_xact_lock(1952805992, 1)')
/** Events per transaction, and rows per INSERT (13 parameters each, far below both limits). */
const MAX_BATCH = 1000
const INSERT_ROWS = 500
const ACTOR_TYPES = new Set(['user', 'device', 'system'])
const OUTCOMES = new Set(['success', 'failure', 'denied'])

type Prepared = Omit<AuditEventRow, 'seq' | 'time' | 'prev_hash' | 'hash'>
type Alongside = (trx: Kysely<Database>) => Promise<void>

interface Pending {
  event: Prepared
  alongside?: Alongside
  resolve(row: AuditEventRow): void
  reject(error: unknown): void
}

/**
 * The hash-chained audit trail (docs/audit-format.md). append() queues the event and returns
 * once its transaction committed; appends arriving while a transaction runs are committed
 * together in the next one (group commit), so a burst of requests costs a few transactions,
 * not one each. The queue serialises this process; the database lock (BEGIN IMMEDIATE on
 * SQLite, an advisory lock on PostgreSQL) serialises processes and server nodes.
 */
export class AuditChain implements AuditLog {
  private queue: Pending[] = []
  private draining: Promise<void> | null = null
  private readonly store: AuditStore

  constructor(db: Kysely<Database>, dialect: DialectName) {
    this.store = {db, dialect}
  }

  append(input: AuditInput, alongside?: Alongside): Promise<AuditEvent> {
    let event: Prepared
    try {
      event = prepare(input)
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise<AuditEventRow>((resolve, reject) => {
      this.queue.push({event, alongside, resolve, reject})
      this.draining ??= this.drain()
    }).then(rowToEvent)
  }

  /**
   * A state change and its audit events as one transaction: `work` makes its changes on `trx`
   * (and only on trx: on SQLite the one connection is held, so app.db would wait forever) and
   * calls `record` for each event; the events are chained in the same transaction. Either the
   * change and its events are stored, or neither is. Changes do not join the group commit of
   * append(): one failing change must not roll back other requests' events.
   */
  async transaction<T>(work: (trx: Kysely<Database>, record: RecordAudit) => Promise<T>): Promise<T> {
    const {db, dialect} = this.store
    return writeTransaction(db, dialect, async (trx) => {
      const events: Prepared[] = []
      const result = await work(trx, (input) => void events.push(prepare(input)))
      if (events.length > 0) await chainInto(trx, dialect, events)
      return result
    })
  }

  /**
   * Bulk path (seeding, imports, the bench): appends all inputs, in order, in transactions of
   * up to MAX_BATCH events each, each still chained and locked like append().
   */
  async appendBatch(inputs: AuditInput[]): Promise<{count: number; lastSeq: number; lastHash: string}> {
    const events = inputs.map((input) => prepare(input))
    let last: AuditEventRow | undefined
    for (let i = 0; i < events.length; i += MAX_BATCH) {
      const rows = await this.write(events.slice(i, i + MAX_BATCH))
      last = rows.at(-1)
    }
    const head = last ?? (await this.head())
    return {count: events.length, lastSeq: Number(head.seq), lastHash: head.hash}
  }

  /** Resolves once every queued append has been written (or failed). */
  async flush(): Promise<void> {
    while (this.draining) await this.draining
  }

  /** The last appended seq and hash (seq 0 and the genesis hash before the first event). */
  async head(): Promise<{seq: number; hash: string}> {
    const {seq, hash} = await readHead(auditDb(this.store.db))
    return {seq, hash}
  }

  verify(): Promise<VerifyResult> {
    return verifyChain(this.store)
  }

  list(filter: AuditFilter, after: number, limit: number): Promise<AuditPage> {
    return listEvents(this.store, filter, after, limit)
  }

  /** Records `audit.export` (by `actor`) first, then streams: see startExport. */
  export(filter: AuditFilter, format: ExportFormat, actor: AuditInput): Promise<ExportStarted & {stream: Readable}> {
    return startExport(this.store, this, filter, format, actor)
  }

  private async drain(): Promise<void> {
    try {
      // Let the appends of the current tick join the first transaction.
      await null
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH)
        try {
          const rows = await this.write(
            batch.map((p) => p.event),
            batch.flatMap((p) => (p.alongside ? [p.alongside] : [])),
          )
          batch.forEach((p, i) => p.resolve(rows[i]))
        } catch (error) {
          for (const p of batch) p.reject(error)
        }
      }
    } finally {
      this.draining = null
    }
  }

  private write(events: Prepared[], alongside: Alongside[] = []): Promise<AuditEventRow[]> {
    const {db, dialect} = this.store
    return writeTransaction(db, dialect, async (trx) => {
      for (const write of alongside) await write(trx)
      return chainInto(trx, dialect, events)
    })
  }
}

/**
 * Inside a write transaction: take the chain's lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already
 * holds the database), link the events to the head, insert them, move the head. A failure here
 * is reported as the audit trail being unavailable, and the caller's transaction rolls back.
 */
async function chainInto(trx: Kysely<Database>, dialect: DialectName, events: Prepared[]): Promise<AuditEventRow[]> {
  try {
    if (dialect === 'postgres') await sql`select ${PG_LOCK}`.execute(trx)
    return await insertLinked(auditDb(trx), events)
  } catch (error) {
    // A missing head already says what is wrong, and what to do.
    if (error instanceof UnavailableError && error.code === 'AUDIT_UNAVAILABLE') throw error
    throw new UnavailableError('the audit trail could not record the event, so nothing was changed; the server log has the cause', {
      code: 'AUDIT_UNAVAILABLE',
      cause: error,
    })
  }
}

async function readHead(db: Kysely<AuditDatabase>): Promise<{seq: number; hash: string; updated_at: string}> {
  const head = await db.selectFrom('audit_head').select(['seq', 'hash', 'updated_at']).where('id', '=', 1).executeTakeFirst()
  if (!head) throw missingHead()
  return {seq: Number(head.seq), hash: head.hash, updated_at: head.updated_at}
}

/**
 * Inside the lock: link the events to the head, insert them, move the head. The events are
 * chained to the head's hash, but numbered after the highest seq in the table: a row written
 * past the head by hand must neither block every later append (its seq taken) nor join the chain
 * (verify names it `inserted`, because the next event links past it).
 */
async function insertLinked(db: Kysely<AuditDatabase>, events: Prepared[]): Promise<AuditEventRow[]> {
  const head = await readHead(db)
  const top = await db.selectFrom('audit_events').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst()
  let seq = Math.max(head.seq, Number(top?.seq ?? 0))
  let prev = head.hash
  // Times never go backwards along seq (a node with a slower clock), so time filters and seq
  // order agree.
  let floor = head.updated_at
  const rows: AuditEventRow[] = events.map((event) => {
    const now = new Date().toISOString()
    floor = now > floor ? now : floor
    const row = {...event, seq: ++seq, time: floor, prev_hash: prev, hash: ''}
    row.hash = eventHash(row)
    prev = row.hash
    return row
  })
  for (let i = 0; i < rows.length; i += INSERT_ROWS) {
    await db.insertInto('audit_events').values(rows.slice(i, i + INSERT_ROWS)).execute()
  }
  await db.updateTable('audit_head').set({seq, hash: prev, updated_at: floor}).where('id', '=', 1).execute()
  return rows
}

/**
 * Checks what a caller gave us (a bug elsewhere must not write a malformed event), and puts
 * every column in the form the database returns (storableText), so the hash computed here is the
 * hash verify recomputes from the stored row. Details need no such step: their canonical JSON
 * escapes lone surrogates and NUL, and is plain well-formed text.
 */
function prepare(input: AuditInput): Prepared {
  if (!ACTOR_TYPES.has(input.actorType)) throw new TypeError(`audit: bad actorType "${input.actorType}"`)
  if (!OUTCOMES.has(input.outcome)) throw new TypeError(`audit: bad outcome "${input.outcome}"`)
  if (typeof input.actor !== 'string' || input.actor === '') throw new TypeError('audit: actor is required')
  if (typeof input.action !== 'string' || input.action === '') throw new TypeError('audit: action is required')
  const column = (v: string | null | undefined): string | null => (v === null || v === undefined ? null : storableText(v))
  return {
    id: uuidV7(),
    actor_type: input.actorType,
    actor: storableText(input.actor),
    action: storableText(input.action),
    device_serial: column(input.deviceSerial),
    customer_id: column(input.customerId),
    outcome: input.outcome,
    source_ip: column(input.sourceIp),
    details: canonicalDetails(input.details),
  }
}

/**
 * RFC 9562 UUIDv7: 48-bit Unix milliseconds, then random bits. Time-ordered ids keep inserts
 * into the unique index on audit_events.id at its right edge (random v4 ids scatter them over
 * the whole index, which made bulk appends 2-3x slower at a million events).
 */
export function uuidV7(now = Date.now()): string {
  const b = randomBytes(16)
  b.writeUIntBE(now, 0, 6)
  b[6] = (b[6] & 0x0f) | 0x70
  b[8] = (b[8] & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
