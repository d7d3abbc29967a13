import type {Kysely} from 'kysely'
import type {Database, Deployment, DeploymentStatus} from '../db/schema.js'

/**
 * Which status a deployment may move to from which; every status change goes through
 * moveDeployment, whose WHERE clause comes from this table, so two server nodes (or a tick and a
 * job change) that decide the same move at once change the row once, and only the winner audits.
 *
 * - paused → halted: failures reported while paused still halt it (the reason is kept).
 * - halted is not resumed: fix the cause and deploy again (devices already on the version are skipped).
 */
export const DEPLOYMENT_TRANSITIONS: Readonly<Record<DeploymentStatus, readonly DeploymentStatus[]>> = {
  running: ['paused', 'halted', 'aborted', 'completed'],
  paused: ['running', 'halted', 'aborted'],
  halted: ['aborted'],
  aborted: [],
  completed: [],
}

export function deploymentStatusesBefore(to: DeploymentStatus): DeploymentStatus[] {
  return (Object.keys(DEPLOYMENT_TRANSITIONS) as DeploymentStatus[]).filter((from) => DEPLOYMENT_TRANSITIONS[from].includes(to))
}

export function isDeploymentFinal(status: DeploymentStatus): boolean {
  return DEPLOYMENT_TRANSITIONS[status].length === 0
}

type DeploymentChanges = Partial<Omit<Deployment, 'id' | 'status'>>

/** Moves a deployment to `to` if allowed from its current status; false when it did not move. */
export async function moveDeployment(db: Kysely<Database>, id: string, to: DeploymentStatus, changes: DeploymentChanges): Promise<boolean> {
  const res = await db
    .updateTable('deployments')
    .set({...changes, status: to})
    .where('id', '=', id)
    .where('status', 'in', deploymentStatusesBefore(to))
    .executeTakeFirst()
  return Number(res.numUpdatedRows) === 1
}

/**
 * Moves a running deployment from stage `from` to `to` (no status change); false when another
 * node or pass moved it first.
 */
export async function advanceStage(db: Kysely<Database>, id: string, from: number, to: number, at: string): Promise<boolean> {
  const res = await db
    .updateTable('deployments')
    .set({current_stage: to, stage_started_at: at, stage_done_at: null, updated_at: at})
    .where('id', '=', id)
    .where('status', '=', 'running')
    .where('current_stage', '=', from)
    .executeTakeFirst()
  return Number(res.numUpdatedRows) === 1
}
