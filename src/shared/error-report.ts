import {ExitCode, type ExitCodeValue, TetherError} from './errors.js'

/** What a failed command shows: one line, optional hints, and the exit code. */
export interface ErrorReport {
  code: string
  exitCode: ExitCodeValue | number
  message: string
  suggestions: string[]
  details?: Record<string, unknown>
}

interface OclifLikeError {
  message: string
  oclif?: {exit?: number}
  code?: string
}

const SYSTEM_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EEXIST: 'already exists',
  EISDIR: 'is a directory',
  ENOENT: 'no such file or directory',
  ENOSPC: 'no space left on device',
  ENOTDIR: 'not a directory',
  EROFS: 'read-only file system',
}

/**
 * The one place that turns any thrown value into what the user sees and the exit code.
 * Unknown errors are bugs: they get exit 70 and a hint to rerun with --debug.
 */
export function reportFor(error: unknown): ErrorReport {
  if (error instanceof TetherError) {
    return {
      code: error.code,
      exitCode: error.exitCode,
      message: error.message,
      suggestions: error.suggestions,
      details: error.details,
    }
  }

  const e = error as OclifLikeError & {path?: string; syscall?: string}
  if (e && typeof e === 'object' && e.oclif && typeof e.oclif.exit === 'number') {
    // oclif's own parse errors (unknown flag, missing arg, bad option value) carry exit 2.
    const exit = e.oclif.exit
    const {message, suggestions} = oclifMessage(stripAnsi(e.message))
    return {code: exit === ExitCode.USAGE ? 'USAGE' : 'FAILED', exitCode: exit, message, suggestions}
  }

  if (e && typeof e.code === 'string' && SYSTEM_ERRORS[e.code]) {
    const where = e.path ? `${e.path}: ` : ''
    return {code: e.code, exitCode: ExitCode.FAILED, message: `${where}${SYSTEM_ERRORS[e.code]}`, suggestions: []}
  }

  const message = error instanceof Error ? error.message : String(error)
  return {
    code: 'INTERNAL',
    exitCode: ExitCode.INTERNAL,
    message: `unexpected error: ${message}`,
    suggestions: ['Run again with --debug (or DEBUG=tether*) to see the stack trace, and report it.'],
  }
}

export function debugEnabled(argv: readonly string[] = process.argv): boolean {
  if (argv.includes('--debug')) return true
  const debug = process.env.DEBUG ?? ''
  return debug.split(',').some((d) => d.trim() === '*' || d.trim().startsWith('tether'))
}

/**
 * oclif's parse errors in our one-line form: without its "The following errors occurred:" header,
 * one problem per clause (a pair of exclusive flags said once), "See more help" as a hint.
 */
export function oclifMessage(text: string): {message: string; suggestions: string[]} {
  const suggestions: string[] = []
  const seenPairs = new Set<string>()
  const problems: string[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || /^The following errors? occurred:?$/i.test(line)) continue
    if (/^See more help with --help$/i.test(line)) {
      suggestions.push('See more help with --help.')
      continue
    }
    const pair = /^(--[\w-]+)(?:=.*)? cannot also be provided when using (--[\w-]+)$/.exec(line)
    if (pair) {
      const key = [pair[1], pair[2]].sort().join(' ')
      if (seenPairs.has(key)) continue
      seenPairs.add(key)
      problems.push(`${pair[1]} and ${pair[2]} cannot be used together`)
      continue
    }
    problems.push(line)
  }
  return {message: problems.join('; ') || text.trim(), suggestions}
}

// oclif messages may carry colour codes even when we print without colour.
function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001B\[[0-9;]*m/g, '')
}
