import {randomUUID} from 'node:crypto'
import type {FastifyBaseLogger} from 'fastify'
import type {Kysely} from 'kysely'
import {type JobKind, type JobMessage, type JobProgress, type JobStatus, type JobUpdateMessage, MAX_JOB_RESULT_BYTES} from '../../protocol/agent/jobs.js'
import type {JobQuery, JobView} from '../../protocol/api/jobs.js'
import {ConflictError, NotFoundError} from '../../shared/errors.js'
import type {AuditLog} from '../audit/types.js'
import type {Scope} from '../auth/principal.js'
import {inScope, scopeWhere} from '../auth/scope.js'
import type {Database, Device, Job} from '../db/schema.js'
import {SERVER_JOB_KINDS} from './kinds.js'
import {isFinal, moveJob} from './states.js'

type Db = Kysely<Database>

/** What the service needs of the hub and of presence: send a `job` to a device connected here. */
export interface JobSender {
  /** Connected to any node (presence); recorded with job.requested. */
  isOnline(serial: string): boolean | Promise<boolean>
  /** False when the device is not connected to this node (or its connection is not writable). */
  sendJob(serial: string, job: JobMessage): boolean
  /** Another node may hold the device: wake it after the job committed (LISTEN/NOTIFY). */
  wakeOwner?(serial: string): Promise<void>
}

/** Told after a job's status change committed (deployments follow their update jobs this way). */
export type JobChangeListener = (job: Job) => void | Promise<void>

export interface NewJob {
  kind: JobKind
  params: Record<string, unknown>
  requestedBy: string
  ttlSeconds: number
  sourceIp?: string
}

/**
 * Jobs to devices (docs/logs.md): stored first (queued), pushed at once to an online device
 * (sent), pushed again when an offline device connects, expired by a sweep and at push time
 * when their deadline passes while still waiting. Updates from the agent move them to running
 * and to one final status; updates for a final job (e.g. cancelled meanwhile) are ignored.
 */
export class JobService {
  private readonly listeners: JobChangeListener[] = []

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly sender: JobSender,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Calls `listener` after every committed status change; a failing listener is logged, never the caller's problem. */
  onChange(listener: JobChangeListener): void {
    this.listeners.push(listener)
  }

  private async changed(id: string): Promise<void> {
    if (this.listeners.length === 0) return
    const job = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst()
    if (!job) return
    for (const listener of this.listeners) {
      try {
        await listener(job)
      } catch (error) {
        this.log.warn({err: (error as Error).message, jobId: id}, 'jobs: a change listener failed')
      }
    }
  }

  async create(device: Device, input: NewJob): Promise<Job> {
    const now = new Date()
    const row: Job = {
      id: randomUUID(),
      serial: device.serial,
      customer_id: device.customer_id,
      kind: input.kind,
      params: JSON.stringify(input.params),
      status: 'queued',
      requested_by: input.requestedBy,
      created_at: now.toISOString(),
      deadline: new Date(now.getTime() + input.ttlSeconds * 1000).toISOString(),
      sent_at: null,
      started_at: null,
      finished_at: null,
      progress: null,
      result: null,
      error: null,
    }
    const online = await this.sender.isOnline(device.serial)
    await this.audit.transaction(async (trx, record) => {
      await trx.insertInto('jobs').values(row).execute()
      record({
        actorType: 'user',
        actor: input.requestedBy,
        action: 'job.requested',
        outcome: 'success',
        deviceSerial: device.serial,
        customerId: device.customer_id,
        sourceIp: input.sourceIp ?? null,
        details: {jobId: row.id, kind: row.kind, params: input.params, deadline: row.deadline, online},
      })
    })
    const pushed = await this.push(row)
    if (pushed) return pushed
    // Not connected here: the node that holds it (if any) pushes it when woken.
    await this.sender.wakeOwner?.(row.serial)
    return row
  }

  /**
   * Pushes the device's queued (never delivered) jobs, if it is connected here: a wake-up from
   * the node where the job was requested, or the sweep. Sent and running jobs are left alone
   * (they are pushed again only on a new connection, onConnected).
   */
  async pushQueued(serial: string): Promise<number> {
    const queued = await this.db.selectFrom('jobs').selectAll().where('serial', '=', serial).where('status', '=', 'queued').orderBy('created_at').execute()
    let sent = 0
    for (const job of queued) if (await this.push(job)) sent++
    return sent
  }

  /** Devices with queued jobs that are not past their deadline (the sweep pushes those connected here). */
  async serialsWithQueuedJobs(now = new Date()): Promise<string[]> {
    const rows = await this.db.selectFrom('jobs').select('serial').distinct().where('status', '=', 'queued').where('deadline', '>', now.toISOString()).execute()
    return rows.map((r) => r.serial)
  }

  /**
   * A device connected: push its unfinished jobs. Queued ones for the first time; sent and
   * running ones again, because the agent may have restarted meanwhile (it resumes a log
   * upload it already started, and answers a job it still remembers without running it twice).
   */
  async onConnected(serial: string): Promise<number> {
    await this.expireDue()
    const waiting = await this.db.selectFrom('jobs').selectAll().where('serial', '=', serial).where('status', 'in', ['queued', 'sent', 'running']).orderBy('created_at').execute()
    let sent = 0
    for (const job of waiting) if (await this.push(job)) sent++
    return sent
  }

  private async push(job: Job): Promise<Job | null> {
    if (job.deadline <= new Date().toISOString()) {
      await this.expire(job)
      return null
    }
    const message = {type: 'job', jobId: job.id, kind: job.kind, params: JSON.parse(job.params), deadline: job.deadline} as JobMessage
    if (!this.sender.sendJob(job.serial, message)) return null
    const sentAt = new Date().toISOString()
    if (!(await moveJob(this.db, job.id, 'sent', {sent_at: sentAt}))) return null
    if (job.status !== 'sent') await this.changed(job.id)
    return {...job, status: 'sent', sent_at: sentAt}
  }

  /** A job-update from the device: the status change and its audit events commit together. */
  async onUpdate(device: {serial: string; customerId: string}, update: JobUpdateMessage): Promise<void> {
    const job = await this.db.selectFrom('jobs').selectAll().where('id', '=', update.jobId).executeTakeFirst()
    if (!job || job.serial !== device.serial) {
      this.log.warn({serial: device.serial, jobId: update.jobId}, 'jobs: update for an unknown job or another device; ignored')
      return
    }
    if (isFinal(job.status)) return
    const now = new Date().toISOString()
    const progress = update.progress ? JSON.stringify(update.progress) : job.progress
    const moved = await this.audit.transaction(async (trx, record) => {
      const audit = (action: string, outcome: 'success' | 'failure' | 'denied', details: Record<string, unknown>) =>
        record({actorType: 'device', actor: device.serial, action, outcome, deviceSerial: device.serial, customerId: device.customerId, details: {jobId: job.id, kind: job.kind, ...details}})
      const kind = SERVER_JOB_KINDS[job.kind]
      const auditStart = () => {
        if (job.started_at !== null) return
        audit('job.started', 'success', {})
        kind.onStarted?.(job, audit)
      }
      if (update.status === 'running') {
        if (await moveJob(trx, job.id, 'running', {started_at: job.started_at ?? now, progress})) auditStart()
        return job.status !== 'running'
      }
      const result = update.result === undefined ? null : boundedJson(update.result)
      const error = update.error ? JSON.stringify(update.error) : null
      const startedAt = job.started_at ?? (update.status === 'refused' ? null : now)
      if (!(await moveJob(trx, job.id, update.status, {started_at: startedAt, finished_at: now, result, error, progress: finalProgress(update, job.progress)}))) return false
      if (update.status === 'refused') {
        audit('job.refused', 'denied', {error: update.error ?? null})
        return true
      }
      auditStart()
      const outcome = update.status === 'succeeded' ? 'success' : 'failure'
      audit('job.finished', outcome, {status: update.status, error: update.error ?? null})
      kind.onFinished?.(job, outcome, {result: update.result ?? null, error: update.error ?? null}, audit)
      return true
    })
    // Progress alone is not a change of status; listeners that want live figures read the row.
    if (moved || update.progress?.phase !== undefined) await this.changed(job.id)
  }

  async cancel(job: Job, username: string, sourceIp?: string): Promise<Job> {
    if (isFinal(job.status)) throw new ConflictError(`job ${job.id} is already ${job.status}`, {code: 'JOB_FINAL'})
    const now = new Date().toISOString()
    await this.audit.transaction(async (trx, record) => {
      if (!(await moveJob(trx, job.id, 'cancelled', {finished_at: now}))) throw new ConflictError(`job ${job.id} finished meanwhile`, {code: 'JOB_FINAL'})
      record({
        actorType: 'user',
        actor: username,
        action: 'job.cancelled',
        outcome: 'success',
        deviceSerial: job.serial,
        customerId: job.customer_id,
        sourceIp: sourceIp ?? null,
        details: {jobId: job.id, kind: job.kind, previousStatus: job.status},
      })
    })
    await this.changed(job.id)
    return {...job, status: 'cancelled', finished_at: now}
  }

  /** Queued (never delivered) jobs past their deadline become expired; audited each. */
  async expireDue(now = new Date()): Promise<number> {
    const due = await this.db.selectFrom('jobs').selectAll().where('status', '=', 'queued').where('deadline', '<=', now.toISOString()).execute()
    for (const job of due) await this.expire(job)
    return due.length
  }

  private async expire(job: Job): Promise<void> {
    const moved = await this.audit.transaction(async (trx, record) => {
      if (!(await moveJob(trx, job.id, 'expired', {finished_at: new Date().toISOString()}))) return false
      record({
        actorType: 'system',
        actor: 'jobs',
        action: 'job.expired',
        outcome: 'failure',
        deviceSerial: job.serial,
        customerId: job.customer_id,
        details: {jobId: job.id, kind: job.kind, deadline: job.deadline, requestedBy: job.requested_by},
      })
      return true
    })
    if (moved) await this.changed(job.id)
  }

  async get(scope: Scope, id: string): Promise<Job> {
    const row = await this.db
      .selectFrom('jobs')
      .innerJoin('devices', 'devices.serial', 'jobs.serial')
      .selectAll('jobs')
      .select('devices.site_id as site_id')
      .where('jobs.id', '=', id)
      .executeTakeFirst()
    if (!row || !inScope(scope, row.customer_id, row.site_id)) throw new NotFoundError(`no job "${id}"`)
    const {site_id: _site, ...job} = row
    return job
  }

  async list(scope: Scope, query: JobQuery): Promise<Job[]> {
    let q = this.db
      .selectFrom('jobs')
      .innerJoin('devices', 'devices.serial', 'jobs.serial')
      .selectAll('jobs')
      .where((eb) => scopeWhere(eb, scope, {customerColumn: 'devices.customer_id', siteColumn: 'devices.site_id'}))
    if (query.device) q = q.where('jobs.serial', '=', query.device)
    if (query.status) q = q.where('jobs.status', '=', query.status)
    if (query.kind) q = q.where('jobs.kind', '=', query.kind)
    return q.orderBy('jobs.created_at', 'desc').limit(query.limit ?? 100).execute()
  }
}

/**
 * The figure a job keeps once final. The agent's final update carries no progress, and live
 * figures are dropped while it is offline, so the last stored one can be stale (60% of an
 * upload that then finished): a success is complete (done = total); a failure keeps its last
 * figure, how far it got. Without a total (or any figure) there is nothing to correct.
 */
function finalProgress(update: JobUpdateMessage, stored: string | null): string | null {
  const last = update.progress ?? (stored === null ? null : (JSON.parse(stored) as JobProgress))
  if (last === null) return null
  return JSON.stringify(update.status === 'succeeded' && last.total !== undefined ? {done: last.total, total: last.total} : last)
}

/** Results above the bound are replaced by a marker: the agent should have trimmed them. */
function boundedJson(value: unknown): string {
  const text = JSON.stringify(value)
  if (Buffer.byteLength(text) <= MAX_JOB_RESULT_BYTES) return text
  return JSON.stringify({truncated: true, bytes: Buffer.byteLength(text)})
}

export function jobView(job: Job): JobView {
  const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text))
  return {
    id: job.id,
    serial: job.serial,
    customer: job.customer_id,
    kind: job.kind,
    params: JSON.parse(job.params) as Record<string, unknown>,
    status: job.status as JobStatus,
    requestedBy: job.requested_by,
    createdAt: job.created_at,
    deadline: job.deadline,
    sentAt: job.sent_at,
    startedAt: job.started_at,
    finishedAt: job.finished_at,
    progress: parse(job.progress) as JobView['progress'],
    result: parse(job.result),
    error: parse(job.error) as JobView['error'],
  }
}
