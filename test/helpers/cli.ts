import {type ChildProcess, spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** The built binary, as users run it (npm test builds first). */
export const BIN = `${ROOT}bin/run.js`

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
  /** Wall time from spawn to exit. */
  ms: number
}

export interface RunOptions {
  env?: Record<string, string | undefined>
  input?: string
  cwd?: string
  timeoutMs?: number
  /** Run inside this network namespace (ip netns exec). */
  netns?: string
}

/**
 * Environment for child processes: no colour, probes confined to loopback, and no proxy
 * inherited from the machine (a test that wants one passes it in `extra`).
 */
export function testEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const inherited: NodeJS.ProcessEnv = {...process.env}
  for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy']) delete inherited[name]
  const env: NodeJS.ProcessEnv = {...inherited, NO_COLOR: '1', TETHER_PROBE_ALLOW: '127.0.0.0/8,::1/128', ...extra}
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k]
  return env
}

/** Runs `tether ARGS` as a real process and collects its output. */
export function runTether(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const argv = [process.execPath, BIN, ...args]
  const [cmd, ...rest] = options.netns ? ['ip', 'netns', 'exec', options.netns, ...argv] : argv
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(cmd, rest, {cwd: options.cwd ?? ROOT, env: testEnv(options.env), stdio: ['pipe', 'pipe', 'pipe']})
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
