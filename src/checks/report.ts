import type {CheckPortsResult, PortProbe} from './check-ports.js'

export type ReportFormat = 'csv' | 'md'

export const COLUMNS = ['Host', 'Port', 'Address', 'DNS', 'TCP', 'TLS', 'Proxy', 'Verdict'] as const

export function dnsCell(p: PortProbe): string {
  const d = p.dns
  switch (d.status) {
    case 'none':
      return '-'
    case 'ok':
      return `${d.addresses.join(' ')}${d.matchesDocumented ? ' (= documented)' : ''}`
    case 'mismatch':
      return `${d.addresses.join(' ')} (≠ documented ${p.documentedIp})`
    case 'mapped':
      return `mapped ${d.addresses[0]}`
    case 'failed':
      return `failed: ${d.note ?? 'no answer'}`
    case 'skipped':
      return `skipped (${d.note ?? 'not resolved'})`
  }
}

export function tcpCell(p: PortProbe): string {
  const t = p.tcp
  if (t.status === 'filtered') return `filtered (no answer in ${t.waitedMs ?? '?'}ms)`
  if (t.status === 'skipped' || t.status === 'blocked') return p.verdict === 'skipped' ? 'not sent' : t.status
  return t.ms === null ? t.status : `${t.status} ${t.ms}ms`
}

export function tlsCell(p: PortProbe): string {
  if (!p.tlsExpected) return '-'
  const t = p.tls
  if (!t) return p.verdict === 'skipped' ? 'would check' : 'not reached'
  if (t.protocol === null) return `failed: ${t.problems.join('; ')}`
  const head = `${t.protocol} ${t.cipher ?? ''}`.trim()
  const cert = `${t.subject ?? '?'} by ${t.issuer ?? '?'}, ${t.daysToExpiry ?? '?'}d left`
  return t.problems.length > 0 ? `${head}; ${cert}; ${t.problems.join('; ')}` : `${head}; ${cert}; trusted`
}

export function proxyCell(p: PortProbe, result: CheckPortsResult): string {
  if (!result.proxy) return '-'
  if (!p.proxy) return p.verdict === 'skipped' || p.verdict === 'blocked' ? '-' : 'direct (NO_PROXY)'
  return p.proxy.statusCode !== null ? `${p.proxy.statusCode} ${p.proxy.statusText ?? ''}`.trim() : `${p.proxy.status}: ${p.proxy.error ?? ''}`
}

export function addressCell(p: PortProbe): string {
  if (p.address) return `${p.address}${p.addressSource ? ` (${p.addressSource})` : ''}`
  return p.verdict === 'skipped' && p.host ? 'from DNS' : '-'
}

export function verdictCell(p: PortProbe): string {
  const v = p.verdict === 'pass' ? 'PASS' : p.verdict === 'warn' ? 'WARN' : p.verdict === 'fail' ? 'FAIL' : p.verdict === 'blocked' ? 'BLOCKED' : 'DRY RUN'
  const optional = p.required ? '' : ' (optional)'
  return p.reasons.length > 0 && p.verdict !== 'skipped' ? `${v}${optional}: ${p.reasons.join('; ')}` : `${v}${optional}`
}

/** The rows of the human table and the reports, one per probe. */
export function reportRows(result: CheckPortsResult): string[][] {
  return result.probes.map((p) => [p.host ?? p.documentedIp ?? '-', String(p.port), addressCell(p), dnsCell(p), tcpCell(p), tlsCell(p), proxyCell(p, result), verdictCell(p)])
}

export function summaryLine(result: CheckPortsResult): string {
  const s = result.summary
  if (result.dryRun) return `Dry run: ${s.total} probes planned for profile "${result.profile}", nothing sent.`
  const parts = [`${s.passed} pass`, `${s.warned} warn`, `${s.failed} fail`, ...(s.blocked ? [`${s.blocked} blocked`] : [])]
  const optional = s.optionalFailed ? ` (${s.optionalFailed} of them optional)` : ''
  const verdict = result.ok ? 'remote support should work' : 'remote support will NOT work until the failures are fixed'
  return `${s.total} probe${s.total === 1 ? '' : 's'} of "${result.profile}" in ${(result.durationMs / 1000).toFixed(1)}s: ${parts.join(', ')}${optional}. ${verdict}.`
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value
}

export function renderCsv(result: CheckPortsResult): string {
  const head = ['host', 'documented_ip', 'port', 'required', 'address', 'dns', 'tcp', 'tcp_ms', 'tls', 'proxy', 'verdict', 'reasons']
  const rows = result.probes.map((p) => [
    p.host ?? '', p.documentedIp ?? '', String(p.port), p.required ? 'yes' : 'no', addressCell(p), dnsCell(p), p.tcp.status,
    p.tcp.ms === null ? '' : String(p.tcp.ms), tlsCell(p), proxyCell(p, result), p.verdict, p.reasons.join('; '),
  ])
  return [head, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n'
}

function mdCell(value: string): string {
  return value.replaceAll('|', '\\|').replaceAll('\n', ' ')
}

export function renderMarkdown(result: CheckPortsResult): string {
  const lines = [
    `# tether check ports: ${result.profile}`,
    '',
    `- Run: ${result.startedAt} (${result.durationMs} ms), target ${result.target}, timeout ${result.timeoutMs} ms${result.proxy ? `, proxy ${result.proxy}` : ''}`,
    `- Result: **${result.ok ? 'PASS' : 'FAIL'}**. ${summaryLine(result)}`,
    '',
    `| ${COLUMNS.join(' | ')} |`,
    `|${COLUMNS.map(() => '---').join('|')}|`,
    ...reportRows(result).map((r) => `| ${r.map(mdCell).join(' | ')} |`),
    '',
  ]
  return lines.join('\n')
}

export function reportFormatOf(path: string, explicit?: string): ReportFormat | undefined {
  if (explicit === 'csv' || explicit === 'md') return explicit
  if (/\.csv$/i.test(path)) return 'csv'
  if (/\.(md|markdown)$/i.test(path)) return 'md'
  return undefined
}
