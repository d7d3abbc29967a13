import {readdir, readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {basename, extname, join} from 'node:path'
import {parse as parseCsv} from 'csv-parse/sync'
import {LineCounter, parseDocument, isNode} from 'yaml'
import {UsageError} from '../shared/errors.js'
import {packageRoot} from '../shared/paths.js'
import {endpointSchema, profileSchema, type Endpoint, type Profile} from './endpoints.js'

export type ProfileFormat = 'json' | 'yaml' | 'csv'

/** Built in, not a file: the endpoints of a Tether server come from --server. */
export const TETHER_PROFILE = 'tether'

const PROFILE_EXTENSIONS = ['.yaml', '.yml', '.json', '.csv']

export function profilesDir(): string {
  return join(packageRoot(), 'profiles')
}

export async function listProfiles(): Promise<string[]> {
  const files = await readdir(profilesDir()).catch((error: NodeJS.ErrnoException) => {
    // A stripped install without profiles/ still has the built-in one.
    if (error.code === 'ENOENT') return [] as string[]
    throw error
  })
  const names = files.filter((f) => PROFILE_EXTENSIONS.includes(extname(f))).map((f) => basename(f, extname(f)))
  return [...new Set([TETHER_PROFILE, ...names])].sort()
}

/** A shipped profile by name; `tether` needs the server URL. */
export async function loadNamedProfile(name: string, serverUrl?: string): Promise<Profile> {
  if (name === TETHER_PROFILE) {
    if (!serverUrl) throw new UsageError('profile "tether" needs --server URL (the Tether server to check)')
    return tetherProfile(serverUrl)
  }
  if (!/^[a-z0-9][a-z0-9_-]*$/i.test(name)) throw new UsageError(`--profile: "${name}" is not a profile name`)
  for (const ext of PROFILE_EXTENSIONS) {
    const path = join(profilesDir(), `${name}${ext}`)
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined
      throw error
    })
    if (text !== undefined) return {...parseProfileText(text, formatOf(path), `${name}${ext}`), name}
  }
  const known = await listProfiles()
  throw new UsageError(`unknown profile "${name}"`, {suggestions: [`Known profiles: ${known.join(', ')}`, 'Or pass your own list with --file FILE (CSV, JSON or YAML).']})
}

export async function loadProfileFile(path: string): Promise<Profile> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--file: cannot read ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
  })
  const profile = parseProfileText(text, formatOf(path), basename(path))
  return {...profile, name: profile.name || basename(path, extname(path))}
}

export function formatOf(path: string): ProfileFormat {
  const ext = extname(path).toLowerCase()
  if (ext === '.csv') return 'csv'
  if (ext === '.json') return 'json'
  if (ext === '.yaml' || ext === '.yml') return 'yaml'
  throw new UsageError(`${basename(path)}: unknown profile format "${ext}"; use .csv, .json, .yaml or .yml`)
}

export function parseProfileText(text: string, format: ProfileFormat, source: string): Profile {
  return format === 'csv' ? parseCsvProfile(text, source) : parseStructured(text, format, source)
}

export function tetherProfile(serverUrl: string): Profile {
  let url: URL
  try {
    url = new URL(serverUrl)
  } catch {
    throw new UsageError(`--server: "${serverUrl}" is not a URL; use e.g. https://tether.example.org`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`--server: "${serverUrl}" must be an https:// URL`)
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  const hostname = url.hostname.replace(/^\[|\]$/g, '')
  const endpoint: Endpoint = isIP(hostname) ? {ip: hostname, ports: [port], required: true} : {host: hostname, ports: [port], required: true}
  return {name: TETHER_PROFILE, description: `Tether server ${url.origin}`, endpoints: [endpoint], tlsPorts: url.protocol === 'https:' ? [port] : []}
}

function parseStructured(text: string, format: 'json' | 'yaml', source: string): Profile {
  if (format === 'json') {
    try {
      JSON.parse(text)
    } catch (error) {
      const message = (error as Error).message.split('\n')[0]
      throw new UsageError(`${source}${jsonErrorLine(text, message)}: malformed JSON: ${message}`)
    }
  }
  // JSON is parsed with the YAML parser too, so that schema errors can name a line.
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {lineCounter})
  if (doc.errors.length > 0) {
    const first = doc.errors[0]
    const line = first.linePos?.[0].line
    throw new UsageError(`${source}${line ? `:${line}` : ''}: malformed ${format.toUpperCase()}: ${first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`)
  }
  const data = doc.toJS() as unknown
  const parsed = profileSchema.safeParse(data)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const node = doc.getIn(issue.path as Array<string | number>, true)
    const range = isNode(node) ? node.range : undefined
    const line = range ? lineCounter.linePos(range[0]).line : undefined
    const where = issue.path.length > 0 ? ` (${issue.path.join('.')})` : ''
    throw new UsageError(`${source}${line ? `:${line}` : ''}: ${issue.message}${where}`)
  }
  const p = parsed.data
  return {
    name: p.name ?? '',
    description: p.description,
    tlsPorts: p.tlsPorts,
    endpoints: p.endpoints.map((e, i) => ({...e, source: `${source}#${i + 1}`})),
  }
}

/** ":LINE" of a JSON syntax error: from V8's position when it gives one, else from the YAML parser. */
function jsonErrorLine(text: string, message: string): string {
  const pos = /position (\d+)/.exec(message)
  if (pos) return `:${text.slice(0, Number(pos[1])).split('\n').length}`
  const line = parseDocument(text).errors[0]?.linePos?.[0].line
  return line ? `:${line}` : ''
}

const MARKS = new Set(['x', 'yes', 'y', '✓', '✔', '1', 'true'])
const BLANKS = new Set(['', '-', 'no', 'n', '0', 'false'])

/**
 * A vendor's table pasted as CSV: IP, Hostname, then one column per port with X where
 * needed. An optional Required column (yes/no) marks optional rows.
 */
function parseCsvProfile(text: string, source: string): Profile {
  let rows: Array<{record: string[]; info: {lines: number}}>
  try {
    rows = parseCsv(text, {info: true, relax_column_count: true, skip_empty_lines: true, trim: true, comment: '#', bom: true}) as unknown as typeof rows
  } catch (error) {
    const e = error as Error & {lines?: number}
    throw new UsageError(`${source}${e.lines ? `:${e.lines}` : ''}: malformed CSV: ${e.message}`)
  }
  if (rows.length === 0) throw new UsageError(`${source}: empty CSV; expected a header like "IP,Hostname,443,80"`)
  const [header, ...body] = rows
  const columns = header.record.map((h, i) => csvColumn(h, i, `${source}:${header.info.lines}`))
  if (!columns.some((c) => c.kind === 'ip' || c.kind === 'host')) throw new UsageError(`${source}:${header.info.lines}: header needs an IP or a Hostname column`)
  if (!columns.some((c) => c.kind === 'port')) throw new UsageError(`${source}:${header.info.lines}: header needs at least one port column (e.g. 443)`)
  if (body.length === 0) throw new UsageError(`${source}: no rows after the header`)

  const endpoints = body.map(({record, info}) => {
    const where = `${source}:${info.lines}`
    if (record.length > columns.length) throw new UsageError(`${where}: ${record.length} cells, but the header has ${columns.length} columns`)
    const row: {ip?: string; host?: string; ports: number[]; required: boolean} = {ports: [], required: true}
    columns.forEach((col, i) => {
      const cell = (record[i] ?? '').trim()
      if (col.kind === 'ip' && cell) row.ip = cell
      else if (col.kind === 'host' && cell) row.host = cell
      else if (col.kind === 'required') row.required = !['no', 'n', 'false', 'optional', '0'].includes(cell.toLowerCase())
      else if (col.kind === 'port') {
        const v = cell.toLowerCase()
        if (MARKS.has(v)) row.ports.push(col.port)
        else if (!BLANKS.has(v)) throw new UsageError(`${where}: column ${col.port}: "${cell}" is neither X nor empty`)
      }
    })
    const parsed = endpointSchema.safeParse(row)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      const field = issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''
      const value = issue.path[0] === 'ip' ? ` ("${row.ip}")` : issue.path[0] === 'host' ? ` ("${row.host}")` : ''
      throw new UsageError(`${where}: ${field}${issue.message}${value}`)
    }
    return {...parsed.data, source: where} satisfies Endpoint
  })
  return {name: '', endpoints}
}

type CsvColumn = {kind: 'ip' | 'host' | 'required' | 'ignore'} | {kind: 'port'; port: number}

function csvColumn(title: string, index: number, where: string): CsvColumn {
  const t = title.trim().toLowerCase()
  if (['ip', 'ip address', 'address', 'ipv4'].includes(t)) return {kind: 'ip'}
  if (['hostname', 'host', 'fqdn', 'dns name', 'name'].includes(t)) return {kind: 'host'}
  if (t === 'required') return {kind: 'required'}
  if (['description', 'comment', 'notes'].includes(t)) return {kind: 'ignore'}
  const port = /^(?:tcp\s*)?(\d{1,5})(?:\/tcp)?$/.exec(t)
  if (port && Number(port[1]) >= 1 && Number(port[1]) <= 65535) return {kind: 'port', port: Number(port[1])}
  throw new UsageError(`${where}: column ${index + 1} "${title}" is not IP, Hostname, Required or a port number`)
}
