import {type CreateDeploymentRequest, HaltAfter, Stages} from '../protocol/api/deployments.js'
import {SemVer} from '../protocol/updates/index.js'
import {formatDuration, parseDuration} from '../shared/duration.js'
import {UsageError} from '../shared/errors.js'
import {renderFields, renderTable} from '../shared/output.js'
import {parseLabels, parseScope} from './cli-input.js'
import {DeploymentsApi, type Deployment, type DeploymentDetail} from './deployments-api.js'
import {withApi} from './session.js'

/** Runs fn with a DeploymentsApi on the active session (TETHER_TOKEN works as everywhere). */
export function withDeploymentsApi<T>(fn: (api: DeploymentsApi) => Promise<T>): Promise<T> {
  return withApi((admin) => fn(new DeploymentsApi(admin.client)))
}

export interface DeployFlags {
  version: string
  model: string
  to: string
  label?: string[]
  stages?: string
  'halt-after'?: string
  'stage-wait'?: string
  deadline?: string
}

/** `updates deploy` flags → the API body; each bad value is named by its flag. */
export function deployBody(flags: DeployFlags): CreateDeploymentRequest {
  if (!SemVer.safeParse(flags.version).success) throw new UsageError(`--version: "${flags.version}" is not a semantic version such as 2.4.1`)
  const model = flags.model.trim()
  if (model === '' || model.length > 128) throw new UsageError('--model: the device model, as the devices report it (e.g. "Analyzer X200")')
  const [entry] = parseScope([flags.to], false, '--to').entries
  const body: CreateDeploymentRequest = {version: flags.version, model, customer: entry.customer, ...(entry.site ? {site: entry.site} : {})}
  const labels = parseLabels(flags.label)
  if (Object.keys(labels).length > 0) body.labels = labels
  if (flags.stages !== undefined) body.stages = parseStages(flags.stages)
  if (flags['halt-after'] !== undefined) {
    const halt = flags['halt-after'].trim()
    if (!HaltAfter.safeParse(halt).success) throw new UsageError(`--halt-after: "${flags['halt-after']}" is not a count such as 2 or a percent such as 5%`)
    body.haltAfter = halt
  }
  if (flags['stage-wait'] !== undefined) body.stageWaitSeconds = flags['stage-wait'].trim() === '0' ? 0 : seconds(flags['stage-wait'], '--stage-wait')
  if (flags.deadline !== undefined) {
    body.deadlineSeconds = seconds(flags.deadline, '--deadline')
    if (body.deadlineSeconds < 60) throw new UsageError(`--deadline: at least 1m (got ${flags.deadline})`)
  }
  return body
}

/** "1%,10%,50%,100%" (the % is optional) → [1, 10, 50, 100]. */
export function parseStages(text: string): number[] {
  const stages = text.split(',').map((part) => {
    const value = part.trim().replace(/%$/, '')
    if (!/^\d+(\.\d+)?$/.test(value)) throw new UsageError(`--stages: "${part.trim()}" is not a percent; use e.g. 1%,10%,50%,100%`)
    return Number(value)
  })
  const parsed = Stages.safeParse(stages)
  if (!parsed.success) throw new UsageError(`--stages: ${parsed.error.issues[0]?.message ?? 'invalid'} (each above 0, ascending, the last 100%; e.g. 1%,10%,50%,100%)`)
  return stages
}

function seconds(text: string, flag: string): number {
  const ms = parseDuration(text, flag)
  if (ms > 365 * 86_400_000) throw new UsageError(`${flag}: at most 365d (got ${text})`)
  return Math.round(ms / 1000)
}

const target = (d: Deployment) => `${d.customer}${d.site ? `/${d.site}` : ''}${Object.entries(d.labels).map(([k, v]) => ` ${k}=${v}`).join('')}`
const progress = (d: Deployment) => `${d.counts.succeeded}/${d.counts.devices} ok, ${d.counts.failed} failed`

export function deploymentsTable(list: Deployment[]): string {
  return renderTable(
    ['Id', 'Version', 'Model', 'To', 'Status', 'Stage', 'Devices', 'Created'],
    list.map((d) => [d.id, d.version, d.model, target(d), d.status, `${d.currentStage + 1}/${d.stages.length}`, progress(d), d.createdAt]),
  )
}

/** `updates status ID`: the deployment, its stages, and each device's step. */
export function deploymentText(d: DeploymentDetail): string {
  const head = renderFields([
    ['Deployment', d.id],
    ['Version', `${d.version} (${d.targetPath})`],
    ['Model', d.model],
    ['To', target(d)],
    ['Status', d.haltedReason ? `${d.status}: ${d.haltedReason}` : d.status],
    ['Halt after', d.haltAfter],
    ['Stage wait', formatDuration(d.stageWaitSeconds * 1000)],
    ['Deadline', formatDuration(d.deadlineSeconds * 1000)],
    ['Devices', progress(d)],
    ['Created', `${d.createdAt} by ${d.createdBy}`],
  ])
  const stages = renderTable(
    ['Stage', 'Up to', 'State', 'Devices', 'Next at'],
    d.stageDetails.map((s) => [String(s.index + 1), `${s.percent}%`, s.state, `${s.counts.succeeded}/${s.counts.devices} ok, ${s.counts.failed} failed`, s.nextAt ?? '-']),
  )
  const devices = renderTable(
    ['Device', 'Stage', 'Step', 'Updated'],
    d.devices.map((x) => [x.serial, String(x.stage + 1), x.summary, x.updatedAt]),
  )
  return `${head}\n\n${stages}\n\n${devices}`
}
