import {spawn} from 'node:child_process'
import {JobErrorCodes} from '../../protocol/agent/index.js'
import type {DiagnosticScript} from '../data-dir.js'
import {JobFailure} from '../jobs/runner.js'
import {killProcessGroup} from '../process-group.js'

/** Output kept per stream; more is cut off (and said so), so a chatty script cannot flood the channel. */
export const SCRIPT_STDOUT_LIMIT = 64 * 1024
export const SCRIPT_STDERR_LIMIT = 16 * 1024

export interface ScriptResult {
  name: string
  command: string[]
  exitCode: number | null
  signal: string | null
  durationMs: number
  stdout: string
  stderr: string
  stdoutTruncated: boolean
  stderrTruncated: boolean
}

/**
 * Runs a customer diagnostic script from agent.json: argv as declared, never through a shell
 * (nothing the server sends reaches the command line; the server only names the script). It
 * runs in its own process group so a timeout kills whatever it started too. A non-zero exit is
 * a result (the script's verdict), not a failure of the job; a timeout is a TIMEOUT failure.
 */
export function runScript(name: string, script: DiagnosticScript, signal: AbortSignal): Promise<ScriptResult> {
  const [file, ...args] = script.command
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, TETHER_DIAGNOSTIC: name}})
    const out = collector(SCRIPT_STDOUT_LIMIT)
    const err = collector(SCRIPT_STDERR_LIMIT)
    child.stdout.on('data', out.add)
    child.stderr.on('data', err.add)
    let timedOut = false
    const kill = (): void => killProcessGroup(child)
    const timer = setTimeout(() => {
      timedOut = true
      kill()
    }, script.timeoutSeconds * 1000)
    const onAbort = (): void => kill()
    signal.addEventListener('abort', onAbort, {once: true})
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      reject(new JobFailure(JobErrorCodes.failed, `diagnostic script "${name}" could not start: ${error.code === 'ENOENT' ? `${file}: no such file` : error.message}`))
    })
    child.once('close', (code, sig) => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      if (timedOut) return reject(new JobFailure(JobErrorCodes.timeout, `diagnostic script "${name}" did not finish within ${script.timeoutSeconds}s (killed); last output: ${out.text().slice(-300)}`))
      resolve({name, command: script.command, exitCode: code, signal: sig, durationMs: Date.now() - started, stdout: out.text(), stderr: err.text(), stdoutTruncated: out.truncated(), stderrTruncated: err.truncated()})
    })
  })
}

function collector(limit: number) {
  const parts: Buffer[] = []
  let size = 0
  let dropped = false
  return {
    add: (chunk: Buffer): void => {
      if (size >= limit) {
        dropped = true
        return
      }
      const take = chunk.subarray(0, limit - size)
      if (take.length < chunk.length) dropped = true
      parts.push(take)
      size += take.length
    },
    text: (): string => Buffer.concat(parts).toString('utf8'),
    truncated: (): boolean => dropped,
  }
}
