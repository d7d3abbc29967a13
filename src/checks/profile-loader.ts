import {readdir, readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {basename, extname, join} from 'node:path'
import {LineCounter, parseDocument, isNode} from 'yaml'
import {UsageError} from '../shared/errors.js'
import {packageRoot} from '../shared/paths.js'
import {profileSchema, type Endpoint, type Profile} from './endpoints.js'
import {parseVendorTable} from './vendor-table.js'

/** 'table': a pasted vendor table (CSV, semicolon, tab-separated or Markdown; vendor-table.ts). */
export type ProfileFormat = 'json' | 'yaml' | 'table'

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
    if (text !== undefined) return {...parseProfileText(text, formatOf(path) ?? 'table', `${name}${ext}`), name}
  }
  const known = await listProfiles()
  throw new UsageError(`unknown profile "${name}"`, {suggestions: [`Known profiles: ${known.join(', ')}`, 'Or pass your own list with --file FILE (CSV, JSON or YAML).']})
}

/** `--file PATH`, or `--file -` for standard input (a table pasted into the terminal or piped). */
export async function loadProfileFile(path: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<Profile> {
  if (path === '-') {
    const text = await readStream(stdin)
    return {...parseProfileText(text, sniffFormat(text), 'stdin'), name: 'stdin'}
  }
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--file: cannot read ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`)
  })
  const profile = parseProfileText(text, formatOf(path) ?? sniffFormat(text), basename(path))
  return {...profile, name: profile.name || basename(path, extname(path))}
}

const TABLE_EXTENSIONS = new Set(['.csv', '.tsv', '.txt', '.md', '.markdown'])

/** The format an extension names; undefined when it names none (then the text decides). */
export function formatOf(path: string): ProfileFormat | undefined {
  const ext = extname(path).toLowerCase()
  if (TABLE_EXTENSIONS.has(ext)) return 'table'
  if (ext === '.json') return 'json'
  if (ext === '.yaml' || ext === '.yml') return 'yaml'
  return undefined
}

/** JSON starts with { or [, YAML with "key:" (e.g. endpoints:), anything else is a table. */
export function sniffFormat(text: string): ProfileFormat {
  const first = text.replace(/^\uFEFF/, '').split(/\r?\n/).find((l) => l.trim() !== '' && !l.trimStart().startsWith('#')) ?? ''
  if (/^\s*[[{]/.test(first)) return 'json'
  if (/^(name|description|endpoints|tlsPorts|source)\s*:/.test(first)) return 'yaml'
  return 'table'
}

export function parseProfileText(text: string, format: ProfileFormat, source: string): Profile {
  return format === 'table' ? parseVendorTable(text, source) : parseStructured(text, format, source)
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  // Someone typing `--file -` at a prompt is about to paste: say how to finish.
  if ((stream as NodeJS.ReadStream).isTTY) process.stderr.write('Paste the table, then press Ctrl-D on a line of its own.\n')
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += b.length
    // A vendor table is a few kilobytes; a runaway pipe is not one.
    if (size > 4 * 1024 * 1024) throw new UsageError('--file -: standard input holds more than 4 MiB; that is not an endpoint table')
    chunks.push(b)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') throw new UsageError('--file -: standard input was empty; paste the table or pipe a file (tether check ports --file - < table.txt)')
  return text
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
