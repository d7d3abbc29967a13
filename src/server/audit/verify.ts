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
/** How far a moved row is searched for its original seq (reordering), and how far back a link may skip inserted rows. */
const WINDOW = 8

/** A walked row, as the link analysis needs it. */
interface Walked {
  seq: number
  id: string | null
  hash: string
  /** Its own content matches its hash. */
  intact: boolean
  /** Reported as moved: links around it are a consequence, not news. */
  moved: boolean
}

/**
 * Walks the chain in seq order, PAGE_ROWS rows per keyset page (constant memory), and names
 * every break (rules in docs/audit-format.md):
 *  - own hash wrong, but right for a nearby seq: "reordered"; wrong for any: "edited";
 *  - a row whose prev_hash is the hash of a row up to WINDOW rows back: the rows in between are
 *    not part of the chain, "inserted" (rows written by hand, which later appends link past);
 *  - prev_hash matching no recent row: with a seq gap, "deleted" (the missing seqs); without,
 *    the previous row was rewritten with a fresh hash or replaced by a forged one, "edited";
 *  - the last row below the head (truncation) or whose hash differs from the head: "deleted" / "edited";
 *  - rows above the head, or below seq 1 (where the walk from the genesis never looks): "inserted".
 * It never throws on a damaged chain: whatever the rows hold, the answer names it.
 */
export async function verifyChain(store: AuditStore): Promise<VerifyResult> {
  const db = auditDb(store.db)
  const head = await db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst()
  const headSeq = Number(head?.seq ?? 0)
  const headHash = head?.hash ?? GENESIS_HASH
  const problems: VerifyProblem[] = []
  let found = 0
  const report = (p: VerifyProblem): void => {
    found++
    if (problems.length < MAX_PROBLEMS) problems.push(p)
  }
  /** A row first reported as edited turns out to be inserted: say that instead. */
  const reclassify = (row: Walked, message: string): void => {
    const earlier = problems.findLastIndex((p) => p.seq === row.seq && p.id === row.id)
    if (earlier >= 0) problems[earlier] = {seq: row.seq, id: row.id, kind: 'inserted', message}
    else report({seq: row.seq, id: row.id, kind: 'inserted', message})
  }

  // The last rows walked, newest last; the genesis stands before seq 1.
  const recent: Walked[] = [{seq: 0, id: null, hash: GENESIS_HASH, intact: true, moved: false}]
  let checked = 0
  for (;;) {
    const after = recent.at(-1)!.seq
    const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>', after).where('seq', '<=', headSeq).orderBy('seq').limit(PAGE_ROWS).execute()
    for (const r of rows) {
      checked++
      const row: HashedFields = {...r, seq: Number(r.seq)}
      const walked: Walked = {seq: row.seq, id: r.id, hash: r.hash, intact: eventHash(row) === r.hash, moved: false}
      const prev = recent.at(-1)!
      if (!walked.intact) {
        const origin = originalSeq(row, r.hash)
        walked.moved = origin !== null
        if (origin === null) report({seq: row.seq, id: r.id, kind: 'edited', message: `seq ${row.seq}: content does not match its hash (edited after it was written)`})
        else report({seq: row.seq, id: r.id, kind: 'reordered', message: `seq ${row.seq}: event was written as seq ${origin} (moved)`})
      } else if (r.prev_hash !== prev.hash && !prev.moved && prev.intact) {
        checkLink(walked, r.prev_hash, recent, report, reclassify)
      } else if (r.prev_hash !== prev.hash && !prev.moved && !prev.intact) {
        // The previous row was edited in place; a row linking past it shows it was slipped in.
        const target = recent.findLastIndex((w) => w.hash === r.prev_hash)
        if (target >= 0 && target < recent.length - 1) markInserted(walked, recent, target, reclassify)
      }
      recent.push(walked)
      if (recent.length > WINDOW + 1) recent.shift()
    }
    if (rows.length < PAGE_ROWS) break
  }

  const last = recent.at(-1)!
  if (last.seq < headSeq) {
    report({seq: last.seq + 1, id: null, kind: 'deleted', message: `seq ${last.seq + 1}..${headSeq} missing (the newest events were deleted; the chain head is seq ${headSeq})`})
  } else if (headSeq > 0 && last.hash !== headHash && last.intact) {
    report({seq: last.seq, id: last.id, kind: 'edited', message: `seq ${last.seq}: hash differs from the chain head (rewritten)`})
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
  // Appends number from 1: a row below that was written by hand.
  const below = await db.selectFrom('audit_events').select(['seq', 'id']).where('seq', '<', 1).orderBy('seq').limit(MAX_PROBLEMS).execute()
  for (const s of below) {
    report({seq: Number(s.seq), id: s.id, kind: 'inserted', message: `seq ${s.seq}: before the chain's first event (not written by the audit log)`})
  }

  return {ok: found === 0, checked, head: {seq: headSeq, hash: headHash}, problems, truncated: found > problems.length}
}

/** An intact row whose prev_hash is not its predecessor's hash: inserted rows skipped, deleted rows, or a rewritten predecessor. */
function checkLink(row: Walked, prevHash: string, recent: Walked[], report: (p: VerifyProblem) => void, reclassify: (row: Walked, message: string) => void): void {
  const target = recent.findLastIndex((w) => w.hash === prevHash)
  if (target >= 0) return markInserted(row, recent, target, reclassify)
  const prev = recent.at(-1)!
  if (row.seq > prev.seq + 1) {
    const range = row.seq - prev.seq === 2 ? `seq ${prev.seq + 1}` : `seq ${prev.seq + 1}..${row.seq - 1}`
    return report({seq: prev.seq + 1, id: null, kind: 'deleted', message: `${range} missing (deleted between seq ${prev.seq} and ${row.seq})`})
  }
  report({seq: prev.seq || null, id: prev.id, kind: 'edited', message: `seq ${prev.seq}: rewritten or replaced (seq ${row.seq} was chained to a different hash)`})
}

/** row links to recent[target]: the rows after the target were slipped into the chain. */
function markInserted(row: Walked, recent: Walked[], target: number, reclassify: (row: Walked, message: string) => void): void {
  const between = recent.slice(target + 1)
  // Around a moved row, links are a consequence of the move, already reported.
  if (between.some((w) => w.moved)) return
  for (const w of between) reclassify(w, `seq ${w.seq}: not part of the chain (seq ${row.seq} links past it to seq ${recent[target].seq}); written into the table by hand`)
}

/** The seq this row's hash was computed with, if it is a nearby one (the row was moved). */
function originalSeq(row: HashedFields, hash: string): number | null {
  for (let d = 1; d <= WINDOW; d++) {
    for (const seq of [row.seq - d, row.seq + d]) {
      if (seq > 0 && eventHash({...row, seq}) === hash) return seq
    }
  }
  return null
}
