import {z} from 'zod'
import {DeviceModel, SemVer} from '../updates/index.js'
import {Slug, Timestamp} from './common.js'
import {Labels} from './registry.js'

/**
 * Deployments: staged rollouts of a published update (docs/updates.md "Rolling out").
 *
 * POST /deployments                 (updates:deploy)  CreateDeploymentRequest → 201 DeploymentDetail
 * GET  /deployments                 (devices:read)    ?status=&limit= → DeploymentList (scope-filtered)
 * GET  /deployments/:id             (devices:read)    → DeploymentDetail (404 out of scope)
 * POST /deployments/:id/pause       (updates:deploy)  → DeploymentDetail (409 unless running)
 * POST /deployments/:id/resume      (updates:deploy)  → DeploymentDetail (409 unless paused)
 * POST /deployments/:id/abort       (updates:deploy)  → DeploymentDetail (409 when aborted/completed)
 */

/** Cumulative percents of the targeted devices, ascending, ending at 100. */
export const Stages = z
  .array(z.number().gt(0).max(100))
  .min(1)
  .max(20)
  .refine((s) => s.every((p, i) => i === 0 || p > s[i - 1]), 'stages must ascend')
  .refine((s) => s.at(-1) === 100, 'the last stage must be 100%')

/** "2": halt at the 2nd failed device; "5%": halt when 5% of the devices dispatched so far failed. */
export const HaltAfter = z.string().regex(/^(?:[1-9]\d{0,5}|(?:\d{1,2}(?:\.\d{1,2})?|100)%)$/, 'a count such as 2 or a percent such as 5%')

export const DEFAULT_STAGES = [1, 10, 50, 100]
/** Medical devices: the first failure stops the rollout unless the deployer says otherwise. */
export const DEFAULT_HALT_AFTER = '1'
export const DEFAULT_STAGE_WAIT_SECONDS = 24 * 3600
export const DEFAULT_DEADLINE_SECONDS = 72 * 3600

const Seconds = z.number().int().min(0).max(365 * 24 * 3600)

export const CreateDeploymentRequest = z.strictObject({
  version: SemVer,
  model: DeviceModel,
  customer: Slug,
  site: Slug.nullable().optional(),
  /** Every targeted device carries all of these labels. */
  labels: Labels.optional(),
  stages: Stages.optional(),
  haltAfter: HaltAfter.optional(),
  /** After a stage's last device reported, wait this long before the next stage starts. */
  stageWaitSeconds: Seconds.optional(),
  /** A device with no final report this long after its job was created counts as failed (DEADLINE). */
  deadlineSeconds: Seconds.min(60).optional(),
})
export type CreateDeploymentRequest = z.infer<typeof CreateDeploymentRequest>

export const DeploymentStatus = z.enum(['running', 'paused', 'halted', 'aborted', 'completed'])
export type DeploymentStatus = z.infer<typeof DeploymentStatus>

export const DeploymentDeviceState = z.enum(['pending', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'])

export const DeploymentCounts = z.strictObject({
  devices: z.number().int(),
  pending: z.number().int(),
  inProgress: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  other: z.number().int(),
})
export type DeploymentCounts = z.infer<typeof DeploymentCounts>

export const DeploymentView = z.strictObject({
  id: z.string(),
  version: SemVer,
  model: z.string(),
  targetPath: z.string(),
  customer: Slug,
  site: Slug.nullable(),
  labels: z.record(z.string(), z.string()),
  stages: z.array(z.number()),
  haltAfter: z.string(),
  stageWaitSeconds: z.number().int(),
  deadlineSeconds: z.number().int(),
  status: DeploymentStatus,
  currentStage: z.number().int(),
  haltedReason: z.string().nullable(),
  createdBy: z.string(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
  counts: DeploymentCounts,
})
export type DeploymentView = z.infer<typeof DeploymentView>

export const StageView = z.strictObject({
  index: z.number().int(),
  percent: z.number(),
  /** not-started, running (devices without an outcome), waiting (done; the stage wait runs), done. */
  state: z.enum(['not-started', 'running', 'waiting', 'done']),
  /** When the next stage may start (state waiting). */
  nextAt: Timestamp.nullable(),
  counts: DeploymentCounts,
})

/**
 * One device: `step` is where it is, from the job status, the phase it reported and its error:
 * not-started, queued, waiting-for-window, waiting-for-approval, downloading, verifying,
 * installing, health-check, rolling-back, succeeded, failed, rolled-back, skipped, cancelled.
 * `summary` says it in words ("downloading 45%", "failed at installing: INSTALL_FAILED exit 3").
 */
export const DeploymentDeviceView = z.strictObject({
  serial: z.string(),
  stage: z.number().int(),
  state: DeploymentDeviceState,
  step: z.string(),
  percent: z.number().nullable(),
  /** For failures: the phase it was in. */
  failedAt: z.string().nullable(),
  error: z.strictObject({code: z.string(), message: z.string()}).nullable(),
  jobId: z.string().nullable(),
  summary: z.string(),
  updatedAt: Timestamp,
})
export type DeploymentDeviceView = z.infer<typeof DeploymentDeviceView>

export const DeploymentDetail = DeploymentView.extend({
  stageDetails: z.array(StageView),
  devices: z.array(DeploymentDeviceView),
})
export type DeploymentDetail = z.infer<typeof DeploymentDetail>

export const DeploymentList = z.strictObject({deployments: z.array(DeploymentView)})
export type DeploymentList = z.infer<typeof DeploymentList>

export const DeploymentQuery = z.strictObject({
  status: DeploymentStatus.optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
})
export type DeploymentQuery = z.infer<typeof DeploymentQuery>
