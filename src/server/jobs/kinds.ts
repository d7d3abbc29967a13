import type {JobKind} from '../../protocol/agent/jobs.js'
import type {Permission} from '../auth/permissions.js'
import type {Job} from '../db/schema.js'

/** Records one audit event in the transaction of a job's status change (the job id and kind are added). */
export type JobKindAudit = (action: string, outcome: 'success' | 'failure', details: Record<string, unknown>) => void

/**
 * What the server does differently per job kind: one entry per kind, so a new kind is an entry
 * here, not a branch in the service or the routes.
 */
export interface ServerJobKind {
  /** Needed to cancel a job of this kind (the routes that request one name it too). */
  permission: Permission
  /** Audit events besides job.started, in the same transaction. */
  onStarted?(job: Job, audit: JobKindAudit): void
  /** Audit events besides job.finished, in the same transaction. */
  onFinished?(job: Job, outcome: 'success' | 'failure', final: {result: unknown; error: unknown}, audit: JobKindAudit): void
}

export const SERVER_JOB_KINDS: Readonly<Record<JobKind, ServerJobKind>> = {
  diagnostic: {permission: 'diagnostics:run'},
  logs: {
    permission: 'logs:pull',
    onStarted: (job, audit) => audit('logs.collection.started', 'success', {params: JSON.parse(job.params)}),
    onFinished: (_job, outcome, final, audit) => audit('logs.collection.finished', outcome, {result: final.result ?? null, error: final.error ?? null}),
  },
  // Deployments follow their jobs through JobService.onChange; each device step is a device.update.step event.
  update: {permission: 'updates:deploy'},
}
