import type {FastifyBaseLogger} from 'fastify'
import type {Kysely} from 'kysely'
import type {UpdateJobParams} from '../../protocol/updates/index.js'
import type {AuditInput, AuditLog} from '../audit/types.js'
import type {Database, Deployment, Job} from '../db/schema.js'
import type {JobService} from '../jobs/service.js'
import {ACTIVE_STATES, SETTLED_STATES, failOverdue, syncFromJobs} from './device-sync.js'
import {haltReason, parseHaltAfter} from './plan.js'
import {advanceStage, moveDeployment} from './states.js'
import {currentScopeOf, targetDevices} from './targets.js'

export interface RolloutEngineOptions {
  /** Injected so tests drive stage waits and deadlines without sleeping. */
  now: () => Date
  /** Jobs created per deployment per pass; the rest wait for the next pass (a tick is bounded). */
  dispatchBatch: number
  /** Deployments looked at per tick, least recently updated first. */
  tickDeployments: number
}

const SYSTEM: Pick<AuditInput, 'actorType' | 'actor'> = {actorType: 'system', actor: 'rollouts'}

/**
 * Moves deployments along on their own: follows each device's update job, fails devices past
 * their deadline, halts at the failure threshold, starts the next stage once the current one is
 * done and its wait passed, picks up devices that joined the target group, and completes.
 *
 * Driven by job changes (JobService.onChange) and a periodic tick. Work runs one pass at a time
 * per engine (a chain), and every status or stage move is a guarded update, so two nodes (or a
 * tick racing a job change) move a deployment once and audit it once.
 */
export class RolloutEngine {
  private chain: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly jobs: JobService,
    private readonly log: FastifyBaseLogger,
    readonly options: RolloutEngineOptions,
  ) {}

  /** Runs `work` after every pass queued before it; its failure is the caller's, not the chain's. */
  enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work)
    this.chain = run.catch(() => undefined)
    return run
  }

  /** Resolves once every queued pass ran (tests wait on it). */
  async idle(): Promise<void> {
    let seen: Promise<unknown>
    do {
      seen = this.chain
      await seen
    } while (seen !== this.chain)
  }

  /**
   * A JobService listener. It must not wait for the chain: creating a job inside a pass tells the
   * listeners too, and waiting there would wait for itself.
   */
  onJobChange(job: Job): void {
    if (job.kind !== 'update') return
    const {deploymentId} = JSON.parse(job.params) as UpdateJobParams
    this.enqueue(() => this.evaluate(deploymentId, job.id)).catch((error: unknown) => this.log.error({err: error, deploymentId}, 'rollouts: pass after a job change failed; the tick retries'))
  }

  /** One periodic pass over the deployments still in motion. */
  tick(): Promise<number> {
    return this.enqueue(async () => {
      // Halted ones only while devices still report (their outcomes still show in the status).
      const open = await this.db
        .selectFrom('deployments')
        .select('id')
        .where((eb) =>
          eb.or([
            eb('status', 'in', ['running', 'paused']),
            eb.and([
              eb('status', '=', 'halted'),
              eb.exists(eb.selectFrom('deployment_devices').select('serial').whereRef('deployment_devices.deployment_id', '=', 'deployments.id').where('deployment_devices.state', 'in', ACTIVE_STATES)),
            ]),
          ]),
        )
        .orderBy('updated_at')
        .limit(this.options.tickDeployments)
        .execute()
      for (const {id} of open) {
        try {
          await this.evaluate(id)
        } catch (error) {
          this.log.error({err: error, deploymentId: id}, 'rollouts: pass failed; retried next tick')
        }
      }
      return open.length
    })
  }

  /**
   * One pass over a deployment (call through enqueue). `changedJob`: only that job's device is
   * synced, and the stage logic runs only if it reached an outcome.
   */
  async evaluate(id: string, changedJob?: string): Promise<void> {
    const now = this.options.now()
    const settled = await this.audit.transaction(async (trx, record) => {
      const d = await load(trx, id)
      if (!d || d.status === 'aborted' || d.status === 'completed') return 0
      let count = await syncFromJobs(trx, d, record, now.toISOString(), changedJob)
      if (changedJob === undefined) count += await failOverdue(trx, d, record, now)
      await touch(trx, d.id, now.toISOString())
      return count
    })
    if (changedJob !== undefined && settled === 0) return
    await this.haltIfDue(id, now)
    for (let guard = 0; guard < 64; guard++) {
      const d = await load(this.db, id)
      if (!d || d.status !== 'running') return
      if (changedJob === undefined) await this.pickUpJoiners(d, now)
      await this.dispatch(d, now)
      if (!(await this.stageStep(d, now))) return
    }
  }

  /** Counts failures against --halt-after; halts (audited with why) when they reach it. */
  private async haltIfDue(id: string, now: Date): Promise<void> {
    await this.audit.transaction(async (trx, record) => {
      const d = await load(trx, id)
      if (!d || (d.status !== 'running' && d.status !== 'paused')) return
      const counts = await trx
        .selectFrom('deployment_devices')
        .select((eb) => ['state', eb.fn.countAll<number>().as('n')])
        .where('deployment_id', '=', id)
        .groupBy('state')
        .execute()
      const failed = Number(counts.find((c) => c.state === 'failed')?.n ?? 0)
      const dispatched = counts.filter((c) => c.state !== 'pending').reduce((sum, c) => sum + Number(c.n), 0)
      const why = haltReason(parseHaltAfter(d.halt_after), failed, dispatched)
      if (why === null) return
      if (!(await moveDeployment(trx, id, 'halted', {halted_reason: why, updated_at: now.toISOString()}))) return
      record({...SYSTEM, action: 'updates.halted', outcome: 'failure', customerId: d.customer_id, details: {deploymentId: id, version: d.version, stage: d.current_stage, failed, dispatched, haltAfter: d.halt_after, reason: why}})
    })
  }

  /** Devices that joined the group (enrolled, relabelled, moved) go into the last stage. */
  private async pickUpJoiners(d: Deployment, now: Date): Promise<void> {
    const scope = await currentScopeOf(this.db, d.created_by)
    const devices = await targetDevices(this.db, scope, {customerId: d.customer_id, siteId: d.site_id, labels: JSON.parse(d.labels) as Record<string, string>, model: d.model, version: d.version})
    if (devices.length === 0) return
    const known = new Set((await this.db.selectFrom('deployment_devices').select('serial').where('deployment_id', '=', d.id).execute()).map((r) => r.serial))
    const joiners = devices.filter((dev) => !known.has(dev.serial)).slice(0, this.options.dispatchBatch)
    if (joiners.length === 0) return
    const lastStage = (JSON.parse(d.stages) as number[]).length - 1
    const at = now.toISOString()
    await this.audit.transaction(async (trx, record) => {
      for (const dev of joiners) {
        await trx.insertInto('deployment_devices').values({deployment_id: d.id, serial: dev.serial, stage: lastStage, job_id: null, state: 'pending', phase: null, error_code: null, error_message: null, dispatched_at: null, updated_at: at}).execute()
        record({...SYSTEM, action: 'updates.device.joined', outcome: 'success', deviceSerial: dev.serial, customerId: d.customer_id, details: {deploymentId: d.id, version: d.version, stage: lastStage}})
      }
    })
  }

  /**
   * Gives an update job to pending devices of started stages (bounded). The row is claimed
   * first (pending → queued), so a device gets one job however many passes race.
   */
  private async dispatch(d: Deployment, now: Date): Promise<void> {
    const due = await this.db
      .selectFrom('deployment_devices')
      .innerJoin('devices', 'devices.serial', 'deployment_devices.serial')
      .selectAll('devices')
      .where('deployment_devices.deployment_id', '=', d.id)
      .where('deployment_devices.state', '=', 'pending')
      .where('deployment_devices.stage', '<=', d.current_stage)
      .orderBy('deployment_devices.stage')
      .orderBy('deployment_devices.serial')
      .limit(this.options.dispatchBatch)
      .execute()
    const params: UpdateJobParams = {deploymentId: d.id, targetPath: d.target_path, version: d.version}
    for (const device of due) {
      const at = now.toISOString()
      const claimed = await this.db
        .updateTable('deployment_devices')
        .set({state: 'queued', dispatched_at: at, updated_at: at})
        .where('deployment_id', '=', d.id)
        .where('serial', '=', device.serial)
        .where('state', '=', 'pending')
        .executeTakeFirst()
      if (Number(claimed.numUpdatedRows) !== 1) continue
      try {
        const job = await this.jobs.create(device, {kind: 'update', params, requestedBy: d.created_by, ttlSeconds: d.deadline_seconds})
        await this.db.updateTable('deployment_devices').set({job_id: job.id}).where('deployment_id', '=', d.id).where('serial', '=', device.serial).execute()
      } catch (error) {
        await this.db.updateTable('deployment_devices').set({state: 'pending', dispatched_at: null}).where('deployment_id', '=', d.id).where('serial', '=', device.serial).where('job_id', 'is', null).execute()
        throw error
      }
    }
  }

  /**
   * The current stage: marks it done when every device in it (and before it) has an outcome;
   * once its wait passed, starts the next stage that has devices, or completes. True when the
   * deployment moved on (the caller dispatches the new stage).
   */
  private async stageStep(d: Deployment, now: Date): Promise<boolean> {
    const open = await this.db
      .selectFrom('deployment_devices')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('deployment_id', '=', d.id)
      .where('stage', '<=', d.current_stage)
      .where('state', 'not in', SETTLED_STATES)
      .executeTakeFirstOrThrow()
    if (Number(open.n) > 0) return false
    const at = now.toISOString()
    return this.audit.transaction(async (trx, record) => {
      const event = (action: string, details: Record<string, unknown>) =>
        record({...SYSTEM, action, outcome: 'success', customerId: d.customer_id, details: {deploymentId: d.id, version: d.version, ...details}})
      let doneAt = d.stage_done_at
      if (doneAt === null) {
        const res = await trx.updateTable('deployments').set({stage_done_at: at, updated_at: at}).where('id', '=', d.id).where('current_stage', '=', d.current_stage).where('stage_done_at', 'is', null).executeTakeFirst()
        if (Number(res.numUpdatedRows) !== 1) return false
        event('updates.stage.done', {stage: d.current_stage, counts: await stageCounts(trx, d.id, d.current_stage)})
        doneAt = at
      }
      const next = await nextStageWithDevices(trx, d)
      if (next === null) {
        if (!(await moveDeployment(trx, d.id, 'completed', {updated_at: at, finished_at: at}))) return false
        event('updates.completed', {counts: await stageCounts(trx, d.id)})
        return false
      }
      if (now.getTime() < Date.parse(doneAt) + d.stage_wait_seconds * 1000) return false
      if (!(await advanceStage(trx, d.id, d.current_stage, next, at))) return false
      const percents = JSON.parse(d.stages) as number[]
      event('updates.stage.advanced', {from: d.current_stage, to: next, percent: percents[next], waitedSeconds: Math.round((now.getTime() - Date.parse(doneAt)) / 1000)})
      return true
    })
  }
}

async function load(db: Kysely<Database>, id: string): Promise<Deployment | undefined> {
  return db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst()
}

async function touch(db: Kysely<Database>, id: string, at: string): Promise<void> {
  await db.updateTable('deployments').set({updated_at: at}).where('id', '=', id).execute()
}

async function nextStageWithDevices(db: Kysely<Database>, d: Deployment): Promise<number | null> {
  const row = await db
    .selectFrom('deployment_devices')
    .select((eb) => eb.fn.min<number>('stage').as('stage'))
    .where('deployment_id', '=', d.id)
    .where('stage', '>', d.current_stage)
    .executeTakeFirst()
  return row?.stage === null || row?.stage === undefined ? null : Number(row.stage)
}

async function stageCounts(db: Kysely<Database>, id: string, stage?: number): Promise<Record<string, number>> {
  let q = db.selectFrom('deployment_devices').select((eb) => ['state', eb.fn.countAll<number>().as('n')]).where('deployment_id', '=', id)
  if (stage !== undefined) q = q.where('stage', '=', stage)
  const rows = await q.groupBy('state').execute()
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]))
}

