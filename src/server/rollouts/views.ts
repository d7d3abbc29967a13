import type {JobProgress} from '../../protocol/agent/jobs.js'
import type {DeploymentCounts, DeploymentDetail, DeploymentDeviceView, DeploymentView} from '../../protocol/api/deployments.js'
import {UpdateErrorCodes} from '../../protocol/updates/index.js'
import type {Deployment, DeploymentDevice, DeploymentDeviceState, Job} from '../db/schema.js'

/** A device row with its job's live figures (null before it has a job). */
export type DeviceWithJob = DeploymentDevice & {job: Pick<Job, 'status' | 'progress'> | null}

export function countStates(states: readonly DeploymentDeviceState[]): DeploymentCounts {
  const counts: DeploymentCounts = {devices: states.length, pending: 0, inProgress: 0, succeeded: 0, failed: 0, other: 0}
  for (const state of states) {
    if (state === 'pending') counts.pending++
    else if (state === 'queued' || state === 'running') counts.inProgress++
    else if (state === 'succeeded') counts.succeeded++
    else if (state === 'failed') counts.failed++
    else counts.other++
  }
  return counts
}

export function deploymentView(d: Deployment, counts: DeploymentCounts): DeploymentView {
  return {
    id: d.id,
    version: d.version,
    model: d.model,
    targetPath: d.target_path,
    customer: d.customer_id,
    site: d.site_id,
    labels: JSON.parse(d.labels) as Record<string, string>,
    stages: JSON.parse(d.stages) as number[],
    haltAfter: d.halt_after,
    stageWaitSeconds: d.stage_wait_seconds,
    deadlineSeconds: d.deadline_seconds,
    status: d.status,
    currentStage: d.current_stage,
    haltedReason: d.halted_reason,
    createdBy: d.created_by,
    createdAt: d.created_at,
    updatedAt: d.updated_at,
    finishedAt: d.finished_at,
    counts,
  }
}

/**
 * Where a device is, from its row (outcome, last phase, error) and its job's live progress: the
 * step a person wants to see ("downloading 45%", "failed at installing: INSTALL_FAILED …").
 */
export function deviceView(row: DeviceWithJob, deployment: Pick<Deployment, 'current_stage'>): DeploymentDeviceView {
  const progress = row.job?.progress ? (JSON.parse(row.job.progress) as JobProgress) : null
  const phase = progress?.phase ?? row.phase
  const percent = progress?.total ? Math.min(100, Math.floor((progress.done * 100) / progress.total)) : null
  const error = row.error_code === null ? null : {code: row.error_code, message: row.error_message ?? ''}
  const base = {serial: row.serial, stage: row.stage, state: row.state, jobId: row.job_id, error, updatedAt: row.updated_at}
  const why = error ? `${error.code}${error.message ? ` ${error.message}` : ''}` : 'no reason given'
  switch (row.state) {
    case 'pending':
      return {...base, step: 'not-started', percent: null, failedAt: null, summary: row.stage > deployment.current_stage ? `waiting for stage ${row.stage}` : 'about to be queued'}
    case 'queued':
    case 'running': {
      const step = phase ?? (row.state === 'queued' || row.job?.status !== 'running' ? 'queued' : 'running')
      const shown = step === 'downloading' && percent !== null ? `downloading ${percent}%` : step
      return {...base, step, percent: step === 'downloading' ? percent : null, failedAt: null, summary: shown}
    }
    case 'succeeded':
      return {...base, step: 'succeeded', percent: null, failedAt: null, summary: 'succeeded'}
    case 'skipped':
      return {...base, step: 'skipped', percent: null, failedAt: null, summary: `skipped: ${why}`}
    case 'cancelled':
      return {...base, step: 'cancelled', percent: null, failedAt: phase, summary: 'cancelled'}
    default: {
      if (error?.code === UpdateErrorCodes.rolledBack) return {...base, step: 'rolled-back', percent: null, failedAt: phase, summary: `rolled back${phase ? ` after ${phase}` : ''}: ${why}`}
      return {...base, step: 'failed', percent: null, failedAt: phase, summary: `failed${phase ? ` at ${phase}` : ''}: ${why}`}
    }
  }
}

/** The deployment with each stage's state and every device's step. */
export function deploymentDetail(d: Deployment, rows: DeviceWithJob[]): DeploymentDetail {
  const percents = JSON.parse(d.stages) as number[]
  const stageDetails = percents.map((percent, index) => {
    const inStage = rows.filter((r) => r.stage === index)
    const counts = countStates(inStage.map((r) => r.state))
    let state: 'not-started' | 'running' | 'waiting' | 'done' = 'done'
    let nextAt: string | null = null
    if (index > d.current_stage) state = 'not-started'
    else if (index === d.current_stage && counts.pending + counts.inProgress > 0) state = 'running'
    else if (index === d.current_stage && d.stage_done_at !== null && d.status !== 'completed' && index < percents.length - 1) {
      state = 'waiting'
      nextAt = new Date(Date.parse(d.stage_done_at) + d.stage_wait_seconds * 1000).toISOString()
    }
    return {index, percent, state, nextAt, counts}
  })
  return {...deploymentView(d, countStates(rows.map((r) => r.state))), stageDetails, devices: rows.map((r) => deviceView(r, d))}
}
