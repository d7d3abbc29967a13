import {GENESIS_HASH, type HashedFields, eventHash} from './canonical.js'
import {type AuditStore, PAGE_ROWS, auditDb} from './tables.js'

export type ProblemKind = 'edited' | 'inserted' | 'deleted' | 'reordered'

export interface VerifyProblem {
  seq: number | null
  id: string | null
  kind: ProblemKind
  message: string
}

export interface VerifyResult {
  ok: boolean
  /** Rows walked. */
  checked: number
  /** Head when verification began (later appends are checked next time). */
  head: {seq: number; hash: string}
  /** At most MAX_PROBLEMS; `truncated` says more were found. */
  problems: VerifyProblem[]
  truncated: boolean
}

const MAX_PROBLEMS = 1000
/** How far a moved row is searched for its original seq (reordering). */
const REORDER_WINDOW = 8

/**
 * Walks the chain in seq order, PAGE_ROWS rows per keyset page (constant memory), and names
 * every break (rules in docs/audit-format.md):
 *  - seq above the head: "inserted" (not written by the audit log, which moves the head);
 *  - own hash wrong, but right for a nearby seq: "reordered"; wrong for any: "edited";
 *  - seq gap: "deleted" (the missing seqs);
 *  - contiguous, own hash right, but prev_hash is not the previous row's hash: the previous
 *    row was rewritten with a fresh hash or replaced by a forged one: "edited" (at that row);
 *  - the last row below the head (truncation) or whose hash differs from the head: "deleted" / "edited".
 */
export async function verifyChain(store: AuditStore): Promise<VerifyResult> {
  const db = auditDb(store.db)
  const head = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow()
  const headSeq = Number(head.seq)
  const problems: VerifyProblem[] = []
  let found = 0
  const report = (p: VerifyProblem): void => {
    found++
    if (problems.length < MAX_PROBLEMS) problems.push(p)
  }

  let prev = {seq: 0, id: null as string | null, hash: GENESIS_HASH, bad: false}
  let checked = 0
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>', prev.seq)
      .where('seq', '<=', headSeq)
      .orderBy('seq')
      .limit(PAGE_ROWS)
      .execute()
    for (const r of rows) {
      checked++
      const row: HashedFields = {...r, seq: Number(r.seq)}
      const seq = row.seq
      let bad = false
      if (eventHash(row) !== r.hash) {
        bad = true
        const origin = originalSeq(row, r.hash)
        if (origin === null) report({seq, id: r.id, kind: 'edited', message: `seq ${seq}: content does not match its hash (edited after it was written)`})
        else report({seq, id: r.id, kind: 'reordered', message: `seq ${seq}: event was written as seq ${origin} (moved)`})
      }
      if (seq > prev.seq + 1) {
        const range = seq - prev.seq === 2 ? `seq ${prev.seq + 1}` : `seq ${prev.seq + 1}..${seq - 1}`
        report({seq: prev.seq + 1, id: null, kind: 'deleted', message: `${range} missing (deleted between seq ${prev.seq} and ${seq})`})
      } else if (!bad && !prev.bad && r.prev_hash !== prev.hash) {
        report({
          seq: prev.seq || null,
          id: prev.id,
          kind: 'edited',
          message: `seq ${prev.seq}: rewritten or replaced (seq ${seq} was chained to a different hash)`,
        })
      }
      prev = {seq, id: r.id, hash: r.hash, bad}
    }
    if (rows.length < PAGE_ROWS) break
  }

  if (prev.seq < headSeq) {
    report({seq: prev.seq + 1, id: null, kind: 'deleted', message: `seq ${prev.seq + 1}..${headSeq} missing (the newest events were deleted; the chain head is seq ${headSeq})`})
  } else if (headSeq > 0 && prev.hash !== head.hash && !prev.bad) {
    report({seq: prev.seq, id: prev.id, kind: 'edited', message: `seq ${prev.seq}: hash differs from the chain head (rewritten)`})
  }

  // Rows beyond the head, read in one statement so a concurrent append is not mistaken for one.
  const strays = await db
    .selectFrom('audit_events')
    .select(['seq', 'id'])
    .where('seq', '>', (eb) => eb.selectFrom('audit_head').select('seq').where('id', '=', 1))
    .orderBy('seq')
    .limit(MAX_PROBLEMS)
    .execute()
  for (const s of strays) {
    report({seq: Number(s.seq), id: s.id, kind: 'inserted', message: `seq ${s.seq}: beyond the chain head (not written by the audit log)`})
  }

  return {ok: found === 0, checked, head: {seq: headSeq, hash: head.hash}, problems, truncated: found > problems.length}
}

/** The seq this row's hash was computed with, if it is a nearby one (the row was moved). */
function originalSeq(row: HashedFields, hash: string): number | null {
  for (let d = 1; d <= REORDER_WINDOW; d++) {
    for (const seq of [row.seq - d, row.seq + d]) {
      if (seq > 0 && eventHash({...row, seq}) === hash) return seq
    }
  }
  return null
}
