import {JOB_KIND_LABELS, JOB_KINDS, jobKindOfLabel, jobSubject as subjectOf} from '../protocol/agent/jobs.js'
import {ExitCode, type ExitCodeValue} from '../shared/errors.js'
import {renderFields, renderTable} from '../shared/output.js'
import type {TableView} from '../shared/table.js'
import {waitForJob} from './job-waiter.js'
import {JobsApi, type Job, type LogBundle} from './jobs-api.js'
import {withApi} from './session.js'

/** Runs fn with a JobsApi on the active session (TETHER_TOKEN works as everywhere). */
export function withJobsApi<T>(fn: (api: JobsApi) => Promise<T>): Promise<T> {
  return withApi((admin) => fn(new JobsApi(admin.client)))
}

const dash = (v: string | null | undefined) => v ?? '-'

/**
 * `--wait` of `diag run` and `logs request`: the shared waiter. `say` (human mode only) tells
 * the user when the server goes away and comes back, so a silent pause is not taken for a hang.
 */
export function waitForJobCli(api: JobsApi, job: Job, options: {timeoutMs: number; intervalMs: number; say?: (line: string) => void}): Promise<Job> {
  const {say} = options
  const until = new Date(Date.now() + options.timeoutMs).toTimeString().slice(0, 8)
  return waitForJob(api, job, {
    timeoutMs: options.timeoutMs,
    intervalMs: options.intervalMs,
    ...(say && {
      onUnreachable: (error) => say(`Server unreachable: ${error.message}. Still waiting for job ${job.id} until ${until}.`),
      onReachable: () => say(`Server reachable again; waiting for job ${job.id}.`),
    }),
  })
}

/** Job kinds as the user names them everywhere (agent.json, --kind): the registry's labels. The JSON output keeps the API's value. */
export const JOB_KIND_NAMES = JOB_KIND_LABELS

export function jobKindLabel(kind: Job['kind']): string {
  return JOB_KINDS[kind]?.label ?? kind
}

/** --kind diagnostics → the API's 'diagnostic'. */
export function jobKindOf(label: string): Job['kind'] {
  return jobKindOfLabel(label) ?? (label as Job['kind'])
}

export function jobSubject(job: Job): string {
  return subjectOf(job.kind, job.params)
}

export function jobsTable(jobs: Job[], view: TableView = {}): string {
  return renderTable(
    ['Id', 'Device', 'Kind', 'What', 'Status', 'Requested by', 'Created'],
    jobs.map((j) => [j.id, j.serial, jobKindLabel(j.kind), jobSubject(j), j.status, j.requestedBy, j.createdAt]),
    view,
  )
}

export function jobFields(job: Job): string {
  const progress = job.progress ? `${job.progress.done}${job.progress.total === undefined ? '' : `/${job.progress.total}`}` : null
  return renderFields([
    ['Id', job.id],
    ['Device', job.serial],
    ['Customer', job.customer],
    ['Kind', jobKindLabel(job.kind)],
    ['What', jobSubject(job)],
    ['Status', job.status],
    ['Requested by', job.requestedBy],
    ['Created', job.createdAt],
    ['Deadline', job.deadline],
    ['Sent', dash(job.sentAt)],
    ['Started', dash(job.startedAt)],
    ['Finished', dash(job.finishedAt)],
    ['Progress', progress],
    ['Error', job.error ? `${job.error.code}: ${job.error.message}` : null],
  ])
}

export function bundlesTable(bundles: LogBundle[], view: TableView = {}): string {
  return renderTable(
    ['Id', 'Device', 'Customer', 'Size', 'Region', 'Initiator', 'Requested by', 'Created'],
    bundles.map((b) => [b.id, b.serial, b.customer, humanBytes(b.size), b.region, b.initiator, dash(b.requestedBy), b.createdAt]),
    {align: ['left', 'left', 'left', 'right'], ...view},
  )
}

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

/**
 * Exit semantics shared by `diag run` and `logs request`: succeeded → null (exit 0); refused or
 * failed → exit 1 with the device's reason; expired/cancelled → exit 1; not final yet → exit 8
 * ("accepted, still running"). Commands throw ResultWithExitCode so --json still prints the job.
 */
export function jobOutcome(job: Job): {message: string; exitCode: ExitCodeValue; code: string} | null {
  if (job.status === 'succeeded') return null
  const reason = job.error ? `${job.error.code}: ${job.error.message}` : job.status
  if (job.status === 'refused') return {message: `the device refused job ${job.id}: ${reason}`, exitCode: ExitCode.FAILED, code: 'REFUSED_BY_DEVICE'}
  if (job.status === 'failed') return {message: `job ${job.id} failed on the device: ${reason}`, exitCode: ExitCode.FAILED, code: 'JOB_FAILED'}
  if (job.status === 'expired' || job.status === 'cancelled') {
    return {message: `job ${job.id} was ${job.status} before it finished`, exitCode: ExitCode.FAILED, code: `JOB_${job.status.toUpperCase()}`}
  }
  return {message: `accepted, still running: job ${job.id} is ${job.status}; follow it with \`tether jobs show ${job.id}\``, exitCode: ExitCode.PENDING, code: 'PENDING'}
}
