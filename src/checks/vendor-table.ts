import {isIP} from 'node:net'
import {parse as parseCsv} from 'csv-parse/sync'
import {UsageError} from '../shared/errors.js'
import {endpointSchema, type Endpoint, type Profile} from './endpoints.js'

/**
 * A vendor's endpoint table as people paste it: from a PDF (tab-separated, a leading product-group
 * column with no header, "Port 443" headers), from a spreadsheet (comma or semicolon), or back
 * from a `check ports --report` Markdown file (one row per host and port). What the columns mean
 * is read from the header; columns that mean nothing to a port check are ignored and named once
 * in the profile's warnings.
 */

/** One row of cells with the line it started on (1-based, for messages). */
interface Row {
  cells: string[]
  line: number
}

type Column =
  | {kind: 'ip' | 'host' | 'address' | 'required' | 'port-list' | 'ignore'}
  | {kind: 'port'; port: number}
  | {kind: 'unknown'; title: string}

const MARKS = new Set(['x', 'yes', 'y', '✓', '✔', '1', 'true'])
const BLANKS = new Set(['', '-', 'no', 'n', '0', 'false'])
const OPTIONAL = new Set(['no', 'n', 'false', 'optional', '0'])

/** Header words by meaning; anything else that is not a port is an unknown (ignored) column. */
const HEADER_WORDS: Record<string, Exclude<Column['kind'], 'port' | 'unknown'>> = {
  ip: 'ip', 'ip address': 'ip', 'ip addresses': 'ip', ipv4: 'ip', 'ipv4 address': 'ip', 'documented ip': 'ip', documented_ip: 'ip',
  address: 'address',
  hostname: 'host', host: 'host', fqdn: 'host', 'dns name': 'host', name: 'host', 'host name': 'host', server: 'host',
  required: 'required',
  port: 'port-list', ports: 'port-list', 'tcp port': 'port-list', 'tcp ports': 'port-list',
  description: 'ignore', comment: 'ignore', comments: 'ignore', notes: 'ignore',
}

/** "443", "Port 443", "TCP 443", "443/tcp", "TCP/443", "Port 443 (TCP)". */
const PORT_HEADER = /^(?:(?:tcp\s*)?port|tcp)?\s*[/:]?\s*(\d{1,5})\s*(?:\/\s*tcp|\(tcp\))?$/i

function column(title: string): Column {
  const t = title.trim().toLowerCase().replace(/\s+/g, ' ')
  const word = HEADER_WORDS[t]
  if (word) return {kind: word} as Column
  const port = PORT_HEADER.exec(t)
  if (port && Number(port[1]) >= 1 && Number(port[1]) <= 65535) return {kind: 'port', port: Number(port[1])}
  return {kind: 'unknown', title: title.trim()}
}

const isHeader = (cols: Column[]): boolean =>
  cols.some((c) => c.kind === 'ip' || c.kind === 'host' || c.kind === 'address') && cols.some((c) => c.kind === 'port' || c.kind === 'port-list')

/** Markdown when the table lines start with "|"; otherwise delimited text (tab, semicolon or comma, whichever the header uses). */
export function parseVendorTable(text: string, source: string): Profile {
  const clean = text.replace(/^\uFEFF/, '')
  const rows = looksLikeMarkdown(clean) ? markdownRows(clean) : delimitedRows(clean, source)
  if (rows.length === 0) throw new UsageError(`${source}: empty table; expected a header like "IP Address<TAB>Hostname<TAB>Port 443" or "IP,Hostname,443"`)
  // A title or note above the table (as copied from a document) is skipped: the header is the first row that names an address and a port.
  const headerIndex = rows.slice(0, 20).findIndex((r) => isHeader(r.cells.map(column)))
  if (headerIndex < 0) return refuseHeader(rows[0], source)
  const header = rows[headerIndex]
  const columns = header.cells.map(column)
  const body = rows.slice(headerIndex + 1)
  if (body.length === 0) throw new UsageError(`${source}: no rows after the header (line ${header.line})`)

  const endpoints = mergeRows(body.map((row) => endpointOf(row, columns, `${source}:${row.line}`)))
  const warnings = ignoredColumnsWarning(columns, body, `${source}:${header.line}`)
  if (headerIndex > 0) warnings.push(`${source}: lines ${rows[0].line}-${rows[headerIndex - 1].line} above the header were skipped`)
  return {name: '', endpoints, warnings}
}

function refuseHeader(first: Row, source: string): never {
  const cols = first.cells.map(column)
  const where = `${source}:${first.line}`
  if (!cols.some((c) => c.kind === 'ip' || c.kind === 'host' || c.kind === 'address')) throw new UsageError(`${where}: header needs an IP or a Hostname column (found: ${first.cells.map((c) => `"${c}"`).join(', ')})`)
  throw new UsageError(`${where}: header needs at least one port column (e.g. "443", "Port 443", "TCP 443" or "443/tcp")`)
}

function looksLikeMarkdown(text: string): boolean {
  return text.split(/\r?\n/).some((l) => /^\s*\|.*\|\s*$/.test(l)) && text.split(/\r?\n/).some((l) => /^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$/.test(l))
}

/** The "| a | b |" lines of a Markdown document (headings and prose around them are not table). */
function markdownRows(text: string): Row[] {
  const rows: Row[] = []
  text.split(/\r?\n/).forEach((line, i) => {
    if (!/^\s*\|/.test(line) || /^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$/.test(line)) return
    const inner = line.trim().replace(/^\|/, '').replace(/(?<!\\)\|$/, '')
    rows.push({cells: inner.split(/(?<!\\)\|/).map((c) => c.trim().replaceAll('\\|', '|')), line: i + 1})
  })
  return rows
}

/** The delimiter of the first table line: a tab wins (PDF copies), then whichever of ; and , occurs more. */
export function detectDelimiter(text: string): '\t' | ';' | ',' {
  // The first line with any delimiter: a title above the table has none.
  const first = text.split(/\r?\n/).find((l) => /[\t;,]/.test(l) && !l.trimStart().startsWith('#')) ?? ''
  if (first.includes('\t')) return '\t'
  const count = (ch: string): number => first.split(ch).length - 1
  return count(';') > count(',') ? ';' : ','
}

function delimitedRows(text: string, source: string): Row[] {
  const delimiter = detectDelimiter(text)
  try {
    const records = parseCsv(text, {info: true, delimiter, relax_column_count: true, skip_empty_lines: true, comment: '#', comment_no_infix: true, bom: true}) as unknown as Array<{record: string[]; info: {lines: number}}>
    return records.map(({record, info}) => ({cells: record.map((c) => c.trim()), line: info.lines})).filter((r) => r.cells.some((c) => c !== ''))
  } catch (error) {
    const e = error as Error & {lines?: number}
    throw new UsageError(`${source}${e.lines ? `:${e.lines}` : ''}: malformed ${delimiter === '\t' ? 'table' : 'CSV'}: ${e.message}`)
  }
}

interface RowEndpoint {
  ip?: string
  host?: string
  ports: number[]
  required: boolean
  source: string
}

function endpointOf({cells}: Row, columns: Column[], where: string): RowEndpoint {
  const extra = cells.slice(columns.length).filter((c) => c !== '')
  if (extra.length > 0) throw new UsageError(`${where}: ${cells.length} cells, but the header has ${columns.length} columns`)
  const row: RowEndpoint = {ports: [], required: true, source: where}
  columns.forEach((col, i) => {
    const cell = cells[i] ?? ''
    switch (col.kind) {
      case 'ip':
        if (cell) row.ip = cell
        break
      case 'host':
        // A report's Host column holds the documented IP when the row has no hostname.
        if (cell && cell !== '-') {
          if (isIP(cell) && !row.ip) row.ip = cell
          else if (!isIP(cell)) row.host = cell
        }
        break
      case 'address': {
        // A report's Address reads "IP (ip)" for the documented IP; "(dns)" or "(map)" ones are not documented.
        const m = /^(\S+)(?:\s+\(([^)]*)\))?$/.exec(cell)
        if (m && isIP(m[1]) !== 0 && (m[2] === undefined || m[2] === 'ip') && !row.ip) row.ip = m[1]
        break
      }
      case 'required':
        row.required = !OPTIONAL.has(cell.toLowerCase())
        break
      case 'port': {
        const v = cell.toLowerCase()
        if (MARKS.has(v)) row.ports.push(col.port)
        else if (!BLANKS.has(v)) throw new UsageError(`${where}: column ${col.port}: "${cell}" is neither X nor empty`)
        break
      }
      case 'port-list':
        for (const p of cell.split(/[\s,;]+/).filter(Boolean)) {
          const n = /^(\d{1,5})(?:\/tcp)?$/i.exec(p)
          if (!n || Number(n[1]) < 1 || Number(n[1]) > 65535) throw new UsageError(`${where}: port "${p}" is not a TCP port (1-65535)`)
          row.ports.push(Number(n[1]))
        }
        break
      case 'ignore':
      case 'unknown':
        break
    }
  })
  const parsed = endpointSchema.safeParse({ip: row.ip, host: row.host, ports: row.ports, required: row.required})
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''
    const value = issue.path[0] === 'ip' ? ` ("${row.ip}")` : issue.path[0] === 'host' ? ` ("${row.host}")` : ''
    throw new UsageError(`${where}: ${field}${issue.message}${value}`)
  }
  return row
}

/** Rows naming the same host (a report has one per port) become one endpoint, in first-seen order. */
function mergeRows(rows: RowEndpoint[]): Endpoint[] {
  const byKey = new Map<string, Endpoint>()
  for (const r of rows) {
    const key = `${r.ip ?? ''}|${(r.host ?? '').toLowerCase()}`
    const seen = byKey.get(key)
    if (seen) {
      for (const p of r.ports) if (!seen.ports.includes(p)) seen.ports.push(p)
      seen.required ||= r.required
      continue
    }
    byKey.set(key, {...(r.ip ? {ip: r.ip} : {}), ...(r.host ? {host: r.host} : {}), ports: [...new Set(r.ports)], required: r.required, source: r.source})
  }
  return [...byKey.values()]
}

/** One line naming every column that was not used, so a misspelt port header does not vanish silently. */
function ignoredColumnsWarning(columns: Column[], body: Row[], where: string): string[] {
  const names: string[] = []
  columns.forEach((c, i) => {
    if (c.kind !== 'unknown') return
    const used = body.some((r) => (r.cells[i] ?? '') !== '')
    if (c.title === '' && !used) return
    names.push(c.title === '' ? `${i + 1} (no header)` : `"${c.title}"`)
  })
  return names.length > 0 ? [`${where}: ignored column${names.length === 1 ? '' : 's'} ${names.join(', ')} (not IP, Hostname, Required or a port)`] : []
}
