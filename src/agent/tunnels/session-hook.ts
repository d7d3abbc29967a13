import {execFile} from 'node:child_process'

export interface SessionHookEvent {
  event: 'session.start' | 'session.end'
  id: string
  user: string
  target: string
  reason: string | null
  since: string
  endedAt?: string
  why?: string
  bytesToDevice?: number
  bytesFromDevice?: number
}

const HOOK_TIMEOUT_MS = 10_000

/**
 * Runs the device vendor's `sessionHook` (argv, no shell) with the event as JSON on stdin, so
 * the device can show "remote session active" on its own screen. A failing hook is logged and
 * never blocks or ends the session: the banner is a courtesy, the audit is the record.
 */
export function runSessionHook(argv: readonly string[] | undefined, event: SessionHookEvent, log: {warn(obj: object, msg: string): void}): Promise<void> {
  if (!argv || argv.length === 0) return Promise.resolve()
  return new Promise((resolve) => {
    const child = execFile(argv[0], argv.slice(1), {timeout: HOOK_TIMEOUT_MS, maxBuffer: 64 * 1024}, (error) => {
      if (error) log.warn({err: error.message, hook: argv[0], event: event.event}, 'session hook failed')
      resolve()
    })
    child.stdin?.on('error', () => undefined) // a hook that does not read its stdin is fine
    child.stdin?.end(`${JSON.stringify(event)}\n`)
  })
}
