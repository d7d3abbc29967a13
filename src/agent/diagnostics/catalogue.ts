import {BUILTIN_DIAGNOSTICS, DiagnosticJobParams, JobErrorCodes} from '../../protocol/agent/index.js'
import type {ProxyConfig} from '../../shared/proxy-connect.js'
import type {AgentConfig, AgentFiles} from '../data-dir.js'
import {JobFailure, type JobExecutor} from '../jobs/runner.js'
import {LocalAudit} from '../local-audit.js'
import type {LogRing} from './log-ring.js'
import {runScript} from './script.js'
import {diskUsage, memory, network, systemInfo, uptimeLoad} from './system.js'

/**
 * The diagnostics catalogue: the built-ins plus the scripts the customer declared in agent.json.
 * The server can only name an entry; a name not in the catalogue is refused (UNKNOWN_DIAGNOSTIC)
 * — there is no way to run anything else.
 */
export interface DiagnosticDeps {
  /** Read per job, so an edit to agent.json (a new script) applies without a restart. */
  config(): Promise<AgentConfig>
  files: AgentFiles
  agentVersion: string
  ring?: LogRing
  /** For server-reachability: the trust anchor and route the control channel uses. */
  serverCa?: string
  proxy?: ProxyConfig
  env?: NodeJS.ProcessEnv
}

export function diagnosticCatalogue(config: Pick<AgentConfig, 'diagnostics'>): string[] {
  return [...BUILTIN_DIAGNOSTICS, ...Object.keys(config.diagnostics).sort()]
}

export async function runDiagnostic(name: string, deps: DiagnosticDeps, signal: AbortSignal): Promise<unknown> {
  const config = await deps.config()
  switch (name) {
    case 'system-info':
      return systemInfo({serial: config.serial, model: config.model, agentVersion: deps.agentVersion})
    case 'disk-usage':
      return diskUsage([deps.files.dir])
    case 'memory':
      return memory()
    case 'uptime-load':
      return uptimeLoad()
    case 'network':
      return network()
    case 'server-reachability':
      return serverReachability(config, deps)
    case 'agent-log-tail':
      return agentLogTail(deps)
  }
  const script = config.diagnostics[name]
  if (!script) throw new JobFailure(JobErrorCodes.unknownDiagnostic, `"${name}" is not in this device's diagnostics catalogue (${diagnosticCatalogue(config).join(', ')})`, true)
  return runScript(name, script, signal)
}

/** The job executor for `diagnostic` jobs. */
export function diagnosticExecutor(deps: DiagnosticDeps): JobExecutor {
  return async (ctx) => {
    const params = DiagnosticJobParams.parse(ctx.params)
    return {name: params.name, collectedAt: new Date().toISOString(), data: await runDiagnostic(params.name, deps, ctx.signal)}
  }
}

/** The check engine (`tether check ports`) against this agent's own server, by its route (proxy or direct). */
async function serverReachability(config: AgentConfig, deps: DiagnosticDeps): Promise<unknown> {
  const [{checkPorts}, {tetherProfile}, {probeAllowFromEnv}] = await Promise.all([import('../../checks/check-ports.js'), import('../../checks/profile-loader.js'), import('../../checks/probe-allow.js')])
  const profile = tetherProfile(config.server)
  return checkPorts({
    profile,
    target: 'both',
    tlsPorts: profile.tlsPorts ?? [],
    map: new Map(),
    timeoutMs: Math.min(config.connectTimeoutMs, 10_000),
    concurrency: 4,
    adaptive: false,
    dryRun: false,
    proxy: deps.proxy,
    allow: probeAllowFromEnv(deps.env),
    extraCa: deps.serverCa ? [deps.serverCa] : undefined,
  })
}

async function agentLogTail(deps: DiagnosticDeps): Promise<unknown> {
  const audit = await new LocalAudit(deps.files.audit).readAll()
  return {log: deps.ring?.tail(200) ?? [], audit: audit.slice(-50)}
}
