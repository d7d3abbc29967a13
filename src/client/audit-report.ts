import type {AuditReport, ReportedAccess} from '../protocol/api/audit.js'
import {csvField} from '../shared/csv.js'
import {humanBytes} from './jobs-cli.js'

/** The access review as Markdown (for a review meeting's minutes) or CSV (for a spreadsheet). */
export type ReportFormat = 'md' | 'csv' | 'json'

const CSV_COLUMNS = ['reason', 'kind', 'user', 'device', 'customer', 'start', 'duration_seconds', 'bytes', 'what', 'approval', 'flags'] as const

export function reportCsv(report: AuditReport): string {
  const lines = [CSV_COLUMNS.join(',')]
  for (const group of report.groups) {
    for (const a of group.accesses) {
      lines.push([group.reason, a.kind, a.user, a.device, a.customer, a.start, a.durationSeconds, a.bytes, a.what, a.approval, a.flags.join(' ')].map(csvField).join(','))
    }
  }
  return `${lines.join('\n')}\n`
}

export function reportMarkdown(report: AuditReport): string {
  const out = [
    `# Remote access review ${report.since.slice(0, 10)} to ${report.until.slice(0, 10)}${report.customer ? ` (${report.customer})` : ''}`,
    '',
    `${report.totals.accesses} accesses, ${report.totals.flagged} flagged${flagSummary(report)}. From the audit trail up to event ${report.upTo}; generated ${report.generatedAt}.`,
  ]
  for (const group of report.groups) {
    out.push('', `## ${group.reason === null ? 'No reason given' : escapeMd(group.reason)}`, '')
    out.push('| When | Who | Device | What | How long | Data | Approval | Flags |', '|---|---|---|---|---|---|---|---|')
    for (const a of group.accesses) out.push(row(a))
  }
  return `${out.join('\n')}\n`
}

function row(a: ReportedAccess): string {
  const cells = [
    a.start.replace('T', ' ').slice(0, 16),
    a.user,
    a.device ?? '',
    `${a.kind}: ${a.what}`,
    a.durationSeconds === null ? '' : `${Math.round(a.durationSeconds / 60)} min`,
    a.bytes === null ? '' : humanBytes(a.bytes),
    a.approval ?? '',
    a.flags.map((f) => `**${f}**`).join(' '),
  ]
  return `| ${cells.map(escapeMd).join(' | ')} |`
}

function flagSummary(report: AuditReport): string {
  const entries = Object.entries(report.totals.byFlag)
  return entries.length === 0 ? '' : ` (${entries.map(([flag, n]) => `${flag}: ${n}`).join(', ')})`
}

function escapeMd(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ')
}
