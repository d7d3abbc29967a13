import {spawn} from 'node:child_process'
import {BIN, ROOT, testEnv, type RunResult} from '../../helpers/cli.js'

export interface CheckRunOptions {
  /** Set after testEnv(), so that proxy variables (which testEnv strips) reach the child. */
  env?: Record<string, string>
  /** Run inside this network namespace (ip netns exec). */
  netns?: string
  timeoutMs?: number
}

/** runTether, plus proxy variables and network namespaces. */
export function runCheck(args: string[], options: CheckRunOptions = {}): Promise<RunResult & {ms: number}> {
  const argv = [process.execPath, BIN, ...args]
  const [cmd, ...rest] = options.netns ? ['ip', 'netns', 'exec', options.netns, ...argv] : argv
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(cmd, rest, {cwd: ROOT, env: {...testEnv(), ...options.env}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr, ms: performance.now() - started})
    })
  })
}
