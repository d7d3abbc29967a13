import type {Kysely} from 'kysely'
import type {JobStatus} from '../../protocol/agent/jobs.js'
import type {Database, Job} from '../db/schema.js'

/**
 * Which status a job may move to from which (docs/logs.md). Every status change goes through
 * `moveJob`, whose WHERE clause is derived from this table: a change that is not allowed from the
 * row's current status updates nothing, so a cancel that committed meanwhile wins over a late
 * update from the device, and nothing final is ever reopened.
 *
 * - sent → sent: pushed again after a reconnect (the agent answers a job it remembers once).
 * - queued → running/final: the device's update raced the row's move to sent.
 * - running → running: progress.
 */
export const JOB_TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  queued: ['sent', 'running', 'succeeded', 'failed', 'refused', 'expired', 'cancelled'],
  sent: ['sent', 'running', 'succeeded', 'failed', 'refused', 'expired', 'cancelled'],
  running: ['running', 'succeeded', 'failed', 'refused', 'cancelled'],
  succeeded: [],
  failed: [],
  refused: [],
  expired: [],
  cancelled: [],
}

/** The statuses a job may be in for a move to `to`. */
export function statusesBefore(to: JobStatus): JobStatus[] {
  return (Object.keys(JOB_TRANSITIONS) as JobStatus[]).filter((from) => JOB_TRANSITIONS[from].includes(to))
}

export function isFinal(status: JobStatus): boolean {
  return JOB_TRANSITIONS[status].length === 0
}

type JobChanges = Partial<Omit<Job, 'id' | 'status'>>

/** Moves a job to `to` if the table allows it from its current status; false when it did not move. */
export async function moveJob(db: Kysely<Database>, id: string, to: JobStatus, changes: JobChanges = {}): Promise<boolean> {
  const res = await db
    .updateTable('jobs')
    .set({...changes, status: to})
    .where('id', '=', id)
    .where('status', 'in', statusesBefore(to))
    .executeTakeFirst()
  return Number(res.numUpdatedRows) === 1
}
