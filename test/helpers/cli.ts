import {type ChildProcess, spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** The built binary, as users run it (npm test builds first). */
export const BIN = `${ROOT}bin/run.js`

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: Record<string, string | undefined>
  input?: string
  cwd?: string
  timeoutMs?: number
}

/** Environment for child processes: no colour, and probes confined to loopback. */
export function testEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1', TETHER_PROBE_ALLOW: '127.0.0.0/8,::1/128', ...extra}
  delete env.HTTPS_PROXY
  delete env.HTTP_PROXY
  delete env.https_proxy
  delete env.http_proxy
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k]
  return env
}

/** Runs `tether ARGS` as a real process and collects its output. */
export function runTether(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {cwd: options.cwd ?? ROOT, env: testEnv(options.env), stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr})
    })
    child.stdin.end(options.input ?? '')
  })
}

/** Starts a long-running `tether` process (server, agent) and returns it; caller stops it. */
export function startTether(args: string[], options: RunOptions = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {cwd: options.cwd ?? ROOT, env: testEnv(options.env), stdio: ['ignore', 'pipe', 'pipe']})
}

/** Resolves with the first stdout/stderr line that matches, or rejects after timeoutMs. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const onData = (d: Buffer): void => {
      seen += d.toString()
      const m = seen.match(pattern)
      if (m) {
        cleanup()
        resolve(m[0])
      }
    }
    const onExit = (code: number | null): void => {
      cleanup()
      reject(new Error(`process exited (${code}) before ${pattern}; output:\n${seen}`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`timed out waiting for ${pattern}; output:\n${seen}`))
    }, timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('exit', onExit)
  })
}
