import {readdir, stat} from 'node:fs/promises'
import {isAbsolute, join, resolve, sep} from 'node:path'

/**
 * Log sources from agent.json: absolute paths or globs (`*` and `?` within a name, `**` for any
 * number of directories). Relative entries are taken from the data dir. The walk starts at the
 * longest literal prefix, never follows directory symlinks (no loops), and is bounded.
 */
export interface SourceFile {
  path: string
  size: number
  mtimeMs: number
}

const MAX_FILES = 100_000
const MAX_DEPTH = 32

export async function expandSources(patterns: string[], options: {baseDir: string; sinceMs?: number}): Promise<SourceFile[]> {
  const found = new Map<string, SourceFile>()
  for (const raw of patterns) {
    const pattern = isAbsolute(raw) ? raw : resolve(options.baseDir, raw)
    for (const path of await matchGlob(pattern)) {
      if (found.has(path)) continue
      const s = await stat(path).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' || error.code === 'EACCES' ? null : Promise.reject(error)))
      if (!s?.isFile()) continue
      if (options.sinceMs !== undefined && s.mtimeMs < options.sinceMs) continue
      found.set(path, {path, size: s.size, mtimeMs: s.mtimeMs})
      if (found.size >= MAX_FILES) break
    }
  }
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : 1))
}

export function globToRegExp(pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]
    if (ch === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/'
      re += slash ? '(?:.*/)?' : '.*'
      i += slash ? 2 : 1
    } else if (ch === '*') re += '[^/]*'
    else if (ch === '?') re += '[^/]'
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

const hasMagic = (segment: string): boolean => /[*?]/.test(segment)

/** Paths matching one absolute glob (a literal path matches itself when it exists). */
async function matchGlob(pattern: string): Promise<string[]> {
  const segments = pattern.split(sep)
  const first = segments.findIndex(hasMagic)
  if (first === -1) return [pattern]
  const root = segments.slice(0, first).join(sep) || sep
  const rest = segments.slice(first)
  const maxDepth = rest.includes('**') ? MAX_DEPTH : rest.length
  const re = globToRegExp(pattern)
  const out: string[] = []
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > maxDepth || out.length >= MAX_FILES) return
    let entries
    try {
      entries = await readdir(dir, {withFileTypes: true})
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') return
      throw error
    }
    for (const e of entries) {
      const path = join(dir, e.name)
      if (e.isDirectory()) await walk(path, depth + 1)
      else if ((e.isFile() || e.isSymbolicLink()) && re.test(path)) out.push(path)
    }
  }
  await walk(root, 1)
  return out
}
