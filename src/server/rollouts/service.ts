import {randomBytes} from 'node:crypto'
import type {Kysely} from 'kysely'
import {type CreateDeploymentRequest, DEFAULT_DEADLINE_SECONDS, DEFAULT_HALT_AFTER, DEFAULT_STAGE_WAIT_SECONDS, DEFAULT_STAGES, type DeploymentDetail, type DeploymentQuery, type DeploymentView} from '../../protocol/api/deployments.js'
import {ConflictError, NotFoundError} from '../../shared/errors.js'
import type {AuditLog} from '../audit/types.js'
import type {Scope} from '../auth/principal.js'
import {fieldError} from '../auth/request-context.js'
import {customerVisible, inScope, scopeWhere} from '../auth/scope.js'
import type {Database, Deployment, DeploymentStatus} from '../db/schema.js'
import type {JobService} from '../jobs/service.js'
import {EMPTY_CATALOG, type TargetCatalog} from './catalog.js'
import type {RolloutEngine} from './engine.js'
import {assignStages} from './plan.js'
import {moveDeployment} from './states.js'
import {targetDevices} from './targets.js'
import {countStates, deploymentDetail, deploymentView, type DeviceWithJob} from './views.js'

/** Who asks, as the routes know it. */
export interface Requester {
  username: string
  scope: Scope
  sourceIp?: string
}

/**
 * Deployments as the API sees them: create (targets picked in the requester's scope, assigned to
 * stages, stage 0 dispatched), list, show, pause, resume, abort. The engine does the rest.
 */
export class DeploymentService {
  /** The published targets; the update service replaces it when wired (src/server/rollouts/plugin.ts). */
  catalog: TargetCatalog = EMPTY_CATALOG

  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    private readonly jobs: JobService,
    readonly engine: RolloutEngine,
  ) {}

  async create(who: Requester, input: CreateDeploymentRequest): Promise<DeploymentDetail> {
    const siteId = input.site ?? null
    const customer = await this.db.selectFrom('customers').select('id').where('id', '=', input.customer).executeTakeFirst()
    if (!customer || !customerVisible(who.scope, input.customer)) throw new NotFoundError(`no customer "${input.customer}"`)
    if (siteId !== null) {
      const site = await this.db.selectFrom('sites').select('customer_id').where('id', '=', siteId).executeTakeFirst()
      if (!site || site.customer_id !== input.customer || !inScope(who.scope, input.customer, siteId)) throw new NotFoundError(`no site "${siteId}" of customer "${input.customer}"`)
    } else if (!inScope(who.scope, input.customer, null)) {
      throw fieldError('body.site', `your scope covers only some sites of "${input.customer}": name one (--to ${input.customer}/SITE)`)
    }
    const target = await this.catalog.findTarget({version: input.version, model: input.model})
    if (!target || !target.models.includes(input.model)) {
      throw new NotFoundError(`no published update ${input.version} for model "${input.model}"; publish it first (tether updates publish)`, {code: 'TARGET_NOT_FOUND'})
    }
    const labels = input.labels ?? {}
    const devices = await targetDevices(this.db, who.scope, {customerId: input.customer, siteId, labels, model: input.model, version: input.version})
    if (devices.length === 0) {
      throw new NotFoundError(`no enrolled "${input.model}" device of ${input.customer}${siteId ? `/${siteId}` : ''} matches (or all run ${input.version} already)`, {code: 'NO_DEVICES'})
    }
    const id = `d-${randomBytes(6).toString('hex')}`
    const stages = input.stages ?? DEFAULT_STAGES
    const now = this.engine.options.now().toISOString()
    const row: Deployment = {
      id,
      version: input.version,
      model: input.model,
      target_path: target.path,
      customer_id: input.customer,
      site_id: siteId,
      labels: JSON.stringify(labels),
      stages: JSON.stringify(stages),
      halt_after: input.haltAfter ?? DEFAULT_HALT_AFTER,
      stage_wait_seconds: input.stageWaitSeconds ?? DEFAULT_STAGE_WAIT_SECONDS,
      deadline_seconds: input.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS,
      status: 'running',
      current_stage: 0,
      stage_started_at: now,
      stage_done_at: null,
      created_by: who.username,
      created_at: now,
      updated_at: now,
      finished_at: null,
      halted_reason: null,
    }
    const assigned = assignStages(id, devices.map((d) => d.serial), stages)
    await this.audit.transaction(async (trx, record) => {
      await trx.insertInto('deployments').values(row).execute()
      await trx
        .insertInto('deployment_devices')
        .values(assigned.map((a) => ({deployment_id: id, serial: a.serial, stage: a.stage, job_id: null, state: 'pending' as const, phase: null, error_code: null, error_message: null, dispatched_at: null, updated_at: now})))
        .execute()
      record({
        actorType: 'user',
        actor: who.username,
        action: 'updates.deployed',
        outcome: 'success',
        customerId: input.customer,
        sourceIp: who.sourceIp ?? null,
        details: {deploymentId: id, version: row.version, model: row.model, targetPath: target.path, sha256: target.sha256, site: siteId, labels, stages, haltAfter: row.halt_after, stageWaitSeconds: row.stage_wait_seconds, deadlineSeconds: row.deadline_seconds, devices: assigned.length},
      })
    })
    await this.engine.enqueue(() => this.engine.evaluate(id))
    return this.get(who.scope, id)
  }

  async list(scope: Scope, query: DeploymentQuery): Promise<DeploymentView[]> {
    let q = this.db
      .selectFrom('deployments')
      .selectAll()
      .where((eb) => scopeWhere(eb, scope, {customerColumn: 'deployments.customer_id', siteColumn: 'deployments.site_id'}))
    if (query.status) q = q.where('status', '=', query.status)
    const rows = await q.orderBy('created_at', 'desc').limit(query.limit ?? 100).execute()
    if (rows.length === 0) return []
    const states = await this.db.selectFrom('deployment_devices').select(['deployment_id', 'state']).where('deployment_id', 'in', rows.map((r) => r.id)).execute()
    return rows.map((d) => deploymentView(d, countStates(states.filter((s) => s.deployment_id === d.id).map((s) => s.state))))
  }

  async get(scope: Scope, id: string): Promise<DeploymentDetail> {
    const d = await this.find(scope, id)
    const rows = await this.db
      .selectFrom('deployment_devices')
      .leftJoin('jobs', 'jobs.id', 'deployment_devices.job_id')
      .selectAll('deployment_devices')
      .select(['jobs.status as job_status', 'jobs.progress as job_progress'])
      .where('deployment_devices.deployment_id', '=', id)
      .orderBy('deployment_devices.stage')
      .orderBy('deployment_devices.serial')
      .execute()
    const devices: DeviceWithJob[] = rows.map(({job_status, job_progress, ...row}) => ({...row, job: job_status === null ? null : {status: job_status, progress: job_progress}}))
    return deploymentDetail(d, devices)
  }

  /** Stops new jobs; jobs already given to devices continue and are still followed. */
  pause(who: Requester, id: string): Promise<DeploymentDetail> {
    return this.move(who, id, 'paused', 'updates.paused')
  }

  async resume(who: Requester, id: string): Promise<DeploymentDetail> {
    await this.move(who, id, 'running', 'updates.resumed')
    await this.engine.enqueue(() => this.engine.evaluate(id))
    return this.get(who.scope, id)
  }

  /** Stops for good: devices not yet given a job never get one; jobs not yet started are cancelled. */
  async abort(who: Requester, id: string): Promise<DeploymentDetail> {
    await this.move(who, id, 'aborted', 'updates.aborted', async (trx, at) => {
      await trx.updateTable('deployment_devices').set({state: 'cancelled', updated_at: at}).where('deployment_id', '=', id).where('state', '=', 'pending').execute()
    })
    const waiting = await this.db
      .selectFrom('jobs')
      .innerJoin('deployment_devices', 'deployment_devices.job_id', 'jobs.id')
      .selectAll('jobs')
      .where('deployment_devices.deployment_id', '=', id)
      .where('jobs.status', 'in', ['queued', 'sent'])
      .execute()
    const at = this.engine.options.now().toISOString()
    for (const job of waiting) {
      try {
        await this.jobs.cancel(job, who.username, who.sourceIp)
      } catch (error) {
        // The device took it meanwhile: it runs to its end and is still shown.
        if (!(error instanceof ConflictError)) throw error
        continue
      }
      await this.db.updateTable('deployment_devices').set({state: 'cancelled', updated_at: at}).where('deployment_id', '=', id).where('job_id', '=', job.id).where('state', 'in', ['queued', 'running']).execute()
    }
    return this.get(who.scope, id)
  }

  private async find(scope: Scope, id: string): Promise<Deployment> {
    const d = await this.db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst()
    if (!d || !inScope(scope, d.customer_id, d.site_id)) throw new NotFoundError(`no deployment "${id}"`)
    return d
  }

  private async move(who: Requester, id: string, to: DeploymentStatus, action: string, also?: (trx: Kysely<Database>, at: string) => Promise<void>): Promise<DeploymentDetail> {
    const d = await this.find(who.scope, id)
    const at = this.engine.options.now().toISOString()
    await this.audit.transaction(async (trx, record) => {
      const final = to === 'aborted' ? {finished_at: at} : {}
      if (!(await moveDeployment(trx, id, to, {updated_at: at, ...final}))) {
        const now = await trx.selectFrom('deployments').select('status').where('id', '=', id).executeTakeFirstOrThrow()
        throw new ConflictError(`deployment ${id} is ${now.status}; it cannot be ${to === 'running' ? 'resumed' : to}`, {code: 'DEPLOYMENT_STATE'})
      }
      await also?.(trx, at)
      record({actorType: 'user', actor: who.username, action, outcome: 'success', customerId: d.customer_id, sourceIp: who.sourceIp ?? null, details: {deploymentId: id, version: d.version, from: d.status, stage: d.current_stage}})
    })
    return this.get(who.scope, id)
  }
}
