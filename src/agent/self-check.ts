import type {ProxyConfig} from '../shared/proxy-connect.js'
import {TetherError} from '../shared/errors.js'
import {agentFiles, type AgentConfig, type AgentFiles} from './data-dir.js'
import {SELF_CHECKS} from './self-check-steps.js'

/**
 * `tether agent check`: everything the agent depends on, checked on the device in the order the
 * agent needs it (as `azcmagent check` does): its configuration, its certificate, the route to the
 * server, the server's certificate against the pinned CA, the clock, the spool. Each step is an
 * entry of SELF_CHECKS; a step whose inputs are missing (no config, no route) is skipped, not failed
 * twice.
 */

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip'

export interface SelfCheckItem {
  /** Stable id, part of the --json contract (config, certificate, route, tls, clock, spool). */
  name: string
  title: string
  status: CheckStatus
  detail: string
  /** The next step when it did not pass. */
  hint?: string
}

export interface SelfCheckResult {
  dataDir: string
  server: string | null
  route: string | null
  /** False when any check failed (exit 1); warnings keep it true. */
  ok: boolean
  checks: SelfCheckItem[]
}

export interface SelfCheckOptions {
  dataDir: string
  /** --proxy for this check (as for `agent start`). */
  proxy?: string
  timeoutMs?: number
  /** The device clock; injected by tests to play a skewed device. */
  now?: () => number
  env?: NodeJS.ProcessEnv
}

/** What the steps share; filled in as steps succeed. */
export interface SelfCheckContext {
  files: AgentFiles
  options: SelfCheckOptions
  timeoutMs: number
  now: () => number
  config?: AgentConfig
  proxy?: ProxyConfig
  route?: string
  /** Set by the route step when the server answered on TCP (or through the proxy). */
  reachable?: boolean
  /** Set by the tls step: the server's Date header and the local time around the request. */
  serverDate?: {server: number; sent: number; received: number}
}

export interface SelfCheckStep {
  name: string
  title: string
  /** Names of steps that must have passed (or warned) for this one to run. */
  needs: string[]
  run(ctx: SelfCheckContext): Promise<Omit<SelfCheckItem, 'name' | 'title'>>
}

export async function runSelfCheck(options: SelfCheckOptions): Promise<SelfCheckResult> {
  const ctx: SelfCheckContext = {files: agentFiles(options.dataDir), options, timeoutMs: options.timeoutMs ?? 5000, now: options.now ?? Date.now}
  const checks: SelfCheckItem[] = []
  for (const step of SELF_CHECKS) {
    const blocked = step.needs.find((n) => !checks.some((c) => c.name === n && (c.status === 'pass' || c.status === 'warn')))
    if (blocked) {
      checks.push({name: step.name, title: step.title, status: 'skip', detail: `needs ${blocked}`})
      continue
    }
    try {
      checks.push({name: step.name, title: step.title, ...(await step.run(ctx))})
    } catch (error) {
      // A step that throws is a failed check with its message, never a crashed command.
      const denied = (error as NodeJS.ErrnoException).code === 'EACCES' ? `run it as the user the agent runs as, e.g. sudo -u tether-agent tether agent check --data-dir ${ctx.files.dir}` : undefined
      const hint = error instanceof TetherError ? error.suggestions[0] : denied
      checks.push({name: step.name, title: step.title, status: 'fail', detail: (error as Error).message, ...(hint ? {hint} : {})})
    }
  }
  return {dataDir: ctx.files.dir, server: ctx.config?.server ?? null, route: ctx.route ?? null, ok: checks.every((c) => c.status !== 'fail'), checks}
}
