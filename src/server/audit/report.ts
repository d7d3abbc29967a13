import type {AccessFlag, AuditReport, ReportedAccess} from '../../protocol/api/audit.js'
import {JobKind, reviewedJobSubject} from '../../protocol/agent/jobs.js'
import type {AuditEventRow} from '../db/schema.js'
import {type AuditFilter, filterConditions} from './query.js'
import {type AuditStore, PAGE_ROWS, auditDb, missingHead} from './tables.js'

/**
 * The periodic access review (issue #14; the VirtualCare paper's quarterly "verify access,
 * reason and resolution"): every remote access in a period, grouped by the incident reason given
 * for it, with what was reached, run or installed, and flags for what a reviewer must look at.
 * Built from the audit trail alone (what the chain proves), read in keyset pages up to the head.
 *
 * A tunnel carries its own reason (`--reason`); a job or a tunnel without one takes the reason of
 * the approved access request that covered it (same engineer, same device, inside the grant).
 */
const ACTIONS = ['tunnel.open', 'tunnel.close', 'job.requested', 'access.requested', 'device.access.decided'] as const

interface Grant {
  requestId: string
  user: string
  device: string
  reason: string | null
  from: string
  until: string | null
}

export interface ReportInput {
  filter: AuditFilter & {since: string; until: string}
  customer?: string
  /** Usernames disabled now. */
  disabledUsers: ReadonlySet<string>
}

export async function buildAccessReport(store: AuditStore, input: ReportInput): Promise<AuditReport> {
  const db = auditDb(store.db)
  const head = await db.selectFrom('audit_head').select('seq').where('id', '=', 1).executeTakeFirst()
  if (!head) throw missingHead()
  const upTo = Number(head.seq)
  const accesses: ReportedAccess[] = []
  const tunnels = new Map<string, ReportedAccess>()
  const reasons = new Map<string, string>()
  const grants = new Map<string, Grant>()
  // Grants may start before the period: read approvals from the start of the chain, accesses from `since`.
  const {since, ...beforeUntil} = input.filter
  let after = 0
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .selectAll()
      .where((eb) =>
        eb.and([
          eb('seq', '>', after),
          eb('seq', '<=', upTo),
          eb('action', 'in', [...ACTIONS]),
          ...filterConditions(eb, beforeUntil),
          ...(input.customer ? [eb('customer_id', '=', input.customer)] : []),
        ]),
      )
      .orderBy('seq')
      .limit(PAGE_ROWS)
      .execute()
    for (const row of rows) read(row, row.time >= since)
    if (rows.length < PAGE_ROWS) break
    after = Number(rows.at(-1)!.seq)
  }

  function read(row: AuditEventRow, inPeriod: boolean): void {
    const d = JSON.parse(row.details) as Record<string, unknown>
    const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null)
    switch (row.action) {
      case 'access.requested':
        if (text(d.requestId)) reasons.set(String(d.requestId), text(d.reason) ?? '')
        return
      case 'device.access.decided': {
        const id = text(d.requestId)
        if (!id) return
        if (d.decision === 'approved') grants.set(id, {requestId: id, user: String(d.user), device: row.device_serial ?? '', reason: reasons.get(id) ?? null, from: row.time, until: text(d.until)})
        else if (grants.has(id)) grants.get(id)!.until = row.time
        return
      }
      case 'tunnel.close': {
        const open = tunnels.get(String(d.tunnelId))
        if (!open) return
        open.durationSeconds = typeof d.durationMs === 'number' ? Math.round(d.durationMs / 1000) : null
        open.bytes = Number(d.bytesToDevice ?? 0) + Number(d.bytesFromDevice ?? 0)
        return
      }
      default:
        if (!inPeriod || row.outcome !== 'success') return
        if (row.action === 'tunnel.open') {
          const access = base(row, 'tunnel', String(d.target ?? '?'), text(d.reason))
          tunnels.set(String(d.tunnelId), access)
          accesses.push(access)
        } else if (row.action === 'job.requested' && JobKind.safeParse(d.kind).success) {
          const kind = d.kind as JobKind
          accesses.push(base(row, kind, reviewedJobSubject(kind, (d.params ?? {}) as Record<string, unknown>), null))
        }
    }
  }

  function base(row: AuditEventRow, kind: ReportedAccess['kind'], what: string, reason: string | null): ReportedAccess {
    return {kind, user: row.actor, device: row.device_serial, customer: row.customer_id, start: row.time, durationSeconds: null, bytes: null, what, reason, approval: null, flags: []}
  }

  for (const access of accesses) {
    const grant = [...grants.values()].find((g) => g.user === access.user && g.device === access.device && g.from <= access.start && (g.until === null || access.start < g.until))
    access.approval = grant?.requestId ?? null
    access.reason ??= grant?.reason ?? null
    access.flags = flagsOf(access, input.disabledUsers)
  }
  return summarise(accesses, {...input, upTo})
}

function flagsOf(access: ReportedAccess, disabled: ReadonlySet<string>): AccessFlag[] {
  const flags: AccessFlag[] = []
  if (!access.reason) flags.push('no-reason')
  if (!access.approval) flags.push('outside-approval')
  if (disabled.has(access.user)) flags.push('disabled-user')
  return flags
}

function summarise(accesses: ReportedAccess[], o: ReportInput & {upTo: number}): AuditReport {
  const groups = new Map<string | null, ReportedAccess[]>()
  for (const a of accesses) groups.set(a.reason, [...(groups.get(a.reason) ?? []), a])
  const byFlag: Record<string, number> = {}
  for (const a of accesses) for (const f of a.flags) byFlag[f] = (byFlag[f] ?? 0) + 1
  return {
    since: o.filter.since,
    until: o.filter.until,
    customer: o.customer ?? null,
    generatedAt: new Date().toISOString(),
    upTo: o.upTo,
    // Reasonless access first: it is what a reviewer must explain.
    groups: [...groups.entries()].sort(([a], [b]) => (a === null ? -1 : b === null ? 1 : a.localeCompare(b))).map(([reason, list]) => ({reason, accesses: list})),
    totals: {accesses: accesses.length, flagged: accesses.filter((a) => a.flags.length > 0).length, byFlag},
  }
}
