import {spawn} from 'node:child_process'
import {killProcessGroup} from '../process-group.js'

/**
 * The customer's install, health-check and rollback commands from agent.json `updates`: argv as
 * configured, never through a shell (the server only causes a run, it never supplies a word of
 * the command line; the package path is ours). Each runs in its own process group so a timeout or
 * an aborted job kills whatever the hook started too.
 */
export interface HookOutcome {
  ok: boolean
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  /** The end of stderr (or the spawn error), for the job's error message and the audit. */
  detail: string
}

const TAIL = 2048

export function runHook(command: readonly string[], options: {extraArgs?: string[]; env: Record<string, string>; timeoutSeconds: number; signal: AbortSignal}): Promise<HookOutcome> {
  const [file, ...args] = command
  return new Promise((resolve) => {
    const child = spawn(file, [...args, ...(options.extraArgs ?? [])], {shell: false, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: {...process.env, ...options.env}})
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-TAIL)
    })
    let timedOut = false
    const kill = (): void => killProcessGroup(child)
    const timer = setTimeout(() => {
      timedOut = true
      kill()
    }, options.timeoutSeconds * 1000)
    options.signal.addEventListener('abort', kill, {once: true})
    const done = (outcome: HookOutcome): void => {
      clearTimeout(timer)
      options.signal.removeEventListener('abort', kill)
      resolve(outcome)
    }
    child.once('error', (error: NodeJS.ErrnoException) => done({ok: false, exitCode: null, signal: null, timedOut: false, detail: error.code === 'ENOENT' ? `${file}: no such file` : error.message}))
    child.once('close', (code, sig) => done({ok: code === 0 && !timedOut, exitCode: code, signal: sig, timedOut, detail: timedOut ? `timed out after ${options.timeoutSeconds}s` : stderr.trim().slice(-512) || `exit ${code ?? sig}`}))
  })
}
