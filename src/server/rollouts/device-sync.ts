import type {Kysely} from 'kysely'
import type {JobProgress} from '../../protocol/agent/jobs.js'
import {UpdateErrorCodes} from '../../protocol/updates/index.js'
import type {RecordAudit} from '../audit/types.js'
import type {Database, Deployment, DeploymentDeviceState, Job} from '../db/schema.js'

/** The error code of a device that gave no final report by its deadline (or whose job expired undelivered). */
export const DEADLINE_CODE = 'DEADLINE'

/** Device states with an outcome: a stage is done when all its devices are in one of these. */
export const SETTLED_STATES: readonly DeploymentDeviceState[] = ['succeeded', 'failed', 'skipped', 'cancelled']
/** Given a job, no outcome yet. */
export const ACTIVE_STATES: readonly DeploymentDeviceState[] = ['queued', 'running']

export interface DeviceOutcome {
  state: DeploymentDeviceState
  phase: string | null
  errorCode: string | null
  errorMessage: string | null
}

/**
 * What the job says about the device. A refusal NOT_NEWER means the device already runs this
 * version or a newer one: nothing to do, not a failure. Any other refusal (not allowed, wrong
 * model, a verification check) is a failure: the device did not get the update.
 */
export function outcomeOfJob(job: Pick<Job, 'status' | 'progress' | 'error'>, lastPhase: string | null): DeviceOutcome {
  const phase = (job.progress === null ? undefined : (JSON.parse(job.progress) as JobProgress).phase) ?? lastPhase
  const error = job.error === null ? null : (JSON.parse(job.error) as {code: string; message: string})
  const base = {phase, errorCode: error?.code ?? null, errorMessage: error?.message ?? null}
  switch (job.status) {
    case 'queued':
    case 'sent':
      return {...base, state: 'queued'}
    case 'running':
      return {...base, state: 'running'}
    case 'succeeded':
      return {...base, state: 'succeeded'}
    case 'refused':
      return {...base, state: error?.code === UpdateErrorCodes.notNewer ? 'skipped' : 'failed'}
    case 'expired':
      return {...base, state: 'failed', errorCode: DEADLINE_CODE, errorMessage: 'the job expired before the device took it'}
    case 'cancelled':
      return {...base, state: 'cancelled'}
    default:
      return {...base, state: 'failed'}
  }
}

/**
 * Brings the device rows of a deployment that have a job and no outcome up to date with their
 * jobs (only `jobId` when given: one job changed). Returns how many rows reached an outcome.
 * A job that expired undelivered is the deadline passing: audited as such.
 */
export async function syncFromJobs(trx: Kysely<Database>, deployment: Deployment, record: RecordAudit, now: string, jobId?: string): Promise<number> {
  let query = trx
    .selectFrom('deployment_devices')
    .innerJoin('jobs', 'jobs.id', 'deployment_devices.job_id')
    .select(['deployment_devices.serial', 'deployment_devices.state', 'deployment_devices.phase', 'deployment_devices.error_code', 'jobs.status', 'jobs.progress', 'jobs.error', 'jobs.id as job_id'])
    .where('deployment_devices.deployment_id', '=', deployment.id)
    .where('deployment_devices.state', 'in', ACTIVE_STATES)
  if (jobId !== undefined) query = query.where('jobs.id', '=', jobId)
  let settled = 0
  for (const row of await query.execute()) {
    const outcome = outcomeOfJob(row, row.phase)
    if (outcome.state === row.state && outcome.phase === row.phase && outcome.errorCode === row.error_code) continue
    const res = await trx
      .updateTable('deployment_devices')
      .set({state: outcome.state, phase: outcome.phase, error_code: outcome.errorCode, error_message: outcome.errorMessage, updated_at: now})
      .where('deployment_id', '=', deployment.id)
      .where('serial', '=', row.serial)
      .where('state', 'in', ACTIVE_STATES)
      .executeTakeFirst()
    if (Number(res.numUpdatedRows) !== 1 || !SETTLED_STATES.includes(outcome.state)) continue
    settled++
    if (outcome.errorCode === DEADLINE_CODE) recordDeadline(record, deployment, row.serial, row.job_id, 'job expired undelivered')
  }
  return settled
}

/**
 * Devices given a job more than the deployment's deadline ago that have not reported an outcome:
 * failed, DEADLINE, each audited. Their job is left alone (an install under way is not cut off);
 * a late report no longer changes the row.
 */
export async function failOverdue(trx: Kysely<Database>, deployment: Deployment, record: RecordAudit, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - deployment.deadline_seconds * 1000).toISOString()
  const overdue = await trx
    .selectFrom('deployment_devices')
    .select(['serial', 'job_id', 'phase'])
    .where('deployment_id', '=', deployment.id)
    .where('state', 'in', ACTIVE_STATES)
    .where('dispatched_at', '<=', cutoff)
    .execute()
  for (const row of overdue) {
    const message = `no final report within ${deployment.deadline_seconds}s${row.phase ? ` (last step: ${row.phase})` : ''}`
    const res = await trx
      .updateTable('deployment_devices')
      .set({state: 'failed', error_code: DEADLINE_CODE, error_message: message, updated_at: now.toISOString()})
      .where('deployment_id', '=', deployment.id)
      .where('serial', '=', row.serial)
      .where('state', 'in', ACTIVE_STATES)
      .executeTakeFirst()
    if (Number(res.numUpdatedRows) === 1) recordDeadline(record, deployment, row.serial, row.job_id, message)
  }
  return overdue.length
}

function recordDeadline(record: RecordAudit, deployment: Deployment, serial: string, jobId: string | null, why: string): void {
  record({
    actorType: 'system',
    actor: 'rollouts',
    action: 'updates.device.deadline',
    outcome: 'failure',
    deviceSerial: serial,
    customerId: deployment.customer_id,
    details: {deploymentId: deployment.id, version: deployment.version, jobId, deadlineSeconds: deployment.deadline_seconds, why},
  })
}
