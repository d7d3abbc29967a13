import {
  JobErrorCodes,
  MAX_JOB_RESULT_BYTES,
  type JobError,
  type JobKind,
  type JobMessage,
  type JobProgress,
  type JobUpdateMessage,
} from '../../protocol/agent/index.js'
import {systemClock, type Clock, type TimerHandle} from '../clock.js'

/**
 * The job layer: runs what the server pushed (`job` messages) with a concurrency bound, a
 * per-kind timeout and a bounded queue, and reports `job-update`s. It knows nothing about
 * diagnostics or logs: executors per kind do the work. The local config decides which kinds
 * are accepted (checked on every job, so an edit to agent.json applies at once); a refused kind
 * is answered `refused` and audited on the device and, through the outbox, on the server.
 * A failing or hanging executor ends as `failed`; it never takes the runner down.
 */
export type JobUpdate = Omit<JobUpdateMessage, 'type' | 'id'>

/** A failure with a code the server and the CLI show (e.g. UNKNOWN_DIAGNOSTIC, TIMEOUT). */
export class JobFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** `refused` instead of `failed`: the device declined on purpose (e.g. a name not in the catalogue). */
    readonly refused = false,
  ) {
    super(message)
  }
}

export interface JobContext {
  jobId: string
  params: unknown
  /** Aborted on timeout or when the runner stops: executors stop child processes and uploads. */
  signal: AbortSignal
  progress(progress: JobProgress): void
}

export type JobExecutor = (ctx: JobContext) => Promise<unknown>

export interface JobAuditInput {
  /** device.job.refused is also the server's registry action (device-events.ts); the others stay on the device. */
  action: 'job.received' | 'device.job.refused' | 'job.finished'
  outcome: 'success' | 'denied' | 'failure'
  details: Record<string, unknown>
  /** Also queue for the server's audit (refusals: "audited on both sides"). */
  forServer: boolean
}

export interface JobRunnerLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface JobRunnerOptions {
  executors: Partial<Record<JobKind, JobExecutor>>
  /** Whether the local config accepts this kind now; a rejection here is a refusal. */
  accepts(kind: JobKind): Promise<boolean>
  /** How long a job of this kind may run before it is aborted and reported failed (TIMEOUT). */
  timeoutMs(kind: JobKind): number
  concurrency: number
  /** Jobs waiting beyond the running ones; more are answered failed BUSY. */
  queueMax?: number
  /** How many recent jobIds are remembered (a job pushed twice runs once). */
  rememberMax?: number
  send(update: JobUpdate): void
  audit(input: JobAuditInput): Promise<void>
  log: JobRunnerLog
  clock?: Clock
}

interface Queued {
  job: JobMessage
}

export class JobRunner {
  private readonly queue: Queued[] = []
  private active = 0
  /** Jobs accepted but not yet queued (their audit is being written): they hold a queue slot. */
  private intake = 0
  /** jobId → its last final update (undefined while queued or running). Insertion order = age. */
  private readonly seen = new Map<string, JobUpdate | undefined>()
  private readonly controllers = new Set<AbortController>()
  private readonly clock: Clock
  private idleWaiters: (() => void)[] = []
  private stopped = false

  constructor(private readonly o: JobRunnerOptions) {
    this.clock = o.clock ?? systemClock
  }

  get running(): number {
    return this.active
  }

  get queued(): number {
    return this.queue.length
  }

  /** Takes a pushed job. Never throws; everything that goes wrong is reported as an update. */
  submit(job: JobMessage): void {
    void this.accept(job).catch((error: Error) => this.o.log.warn({err: error.message, jobId: job.jobId}, 'job intake failed'))
  }

  /** Resolves when nothing is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Aborts running jobs and drops queued ones (agent shutdown); they are re-pushed on reconnect if the server still wants them. */
  stop(): void {
    this.stopped = true
    this.queue.length = 0
    for (const c of this.controllers) c.abort(new JobFailure(JobErrorCodes.failed, 'the agent is stopping'))
  }

  private async accept(job: JobMessage): Promise<void> {
    if (this.seen.has(job.jobId)) {
      const last = this.seen.get(job.jobId)
      this.o.log.info({jobId: job.jobId, final: last?.status ?? null}, 'job pushed again; not running it twice')
      // A final update that was lost on a dropped link is repaired by sending it again.
      if (last) this.o.send(last)
      return
    }
    this.remember(job.jobId, undefined)
    const details = {jobId: job.jobId, kind: job.kind, params: job.params}
    if (!this.o.executors[job.kind] || !(await this.o.accepts(job.kind))) {
      const error = {code: JobErrorCodes.kindNotAllowed, message: `this device does not accept "${job.kind}" jobs (agent.json acceptedJobKinds)`}
      await this.audit({action: 'device.job.refused', outcome: 'denied', details: {...details, code: error.code, reason: error.message}, forServer: true})
      return this.finish({jobId: job.jobId, status: 'refused', error})
    }
    if (Date.parse(job.deadline) <= this.clock.now()) {
      return this.finish({jobId: job.jobId, status: 'failed', error: {code: JobErrorCodes.expired, message: `the job's deadline ${job.deadline} passed before it could start`}})
    }
    const free = Math.max(0, this.o.concurrency - this.active) + (this.o.queueMax ?? 32)
    if (this.stopped || this.queue.length + this.intake >= free) {
      return this.finish({jobId: job.jobId, status: 'failed', error: {code: JobErrorCodes.busy, message: 'the agent has too many jobs waiting; retry later'}})
    }
    this.intake++
    try {
      await this.audit({action: 'job.received', outcome: 'success', details, forServer: false})
    } finally {
      this.intake--
    }
    this.queue.push({job})
    this.pump()
  }

  private pump(): void {
    while (!this.stopped && this.active < this.o.concurrency && this.queue.length > 0) {
      const {job} = this.queue.shift()!
      this.active++
      void this.execute(job).finally(() => {
        this.active--
        this.pump()
        if (this.active === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w()
      })
    }
  }

  private async execute(job: JobMessage): Promise<void> {
    const executor = this.o.executors[job.kind]!
    const controller = new AbortController()
    this.controllers.add(controller)
    const timeoutMs = this.o.timeoutMs(job.kind)
    let timer: TimerHandle | undefined
    const started = this.clock.now()
    this.o.send({jobId: job.jobId, status: 'running'})
    let update: JobUpdate
    try {
      const timedOut = new Promise<never>((_resolve, reject) => {
        timer = this.clock.setTimeout(() => {
          const failure = new JobFailure(JobErrorCodes.timeout, `the ${job.kind} job did not finish within ${Math.round(timeoutMs / 1000)}s`)
          controller.abort(failure)
          reject(failure)
        }, timeoutMs)
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {once: true})
      })
      const work = executor({
        jobId: job.jobId,
        params: job.params,
        signal: controller.signal,
        progress: (progress) => {
          if (!controller.signal.aborted) this.o.send({jobId: job.jobId, status: 'running', progress})
        },
      })
      // The executor's own late rejection after a timeout must not become unhandled.
      work.catch(() => undefined)
      const result = await Promise.race([work, timedOut])
      update = {jobId: job.jobId, status: 'succeeded', ...(result === undefined ? {} : {result: boundResult(result)})}
    } catch (error) {
      update = {jobId: job.jobId, status: error instanceof JobFailure && error.refused ? 'refused' : 'failed', error: jobError(error)}
    } finally {
      if (timer) this.clock.clearTimeout(timer)
      this.controllers.delete(controller)
    }
    const base = {jobId: job.jobId, kind: job.kind, params: job.params}
    if (update.status === 'refused') {
      // A refusal goes to the server too, with exactly the details its registry allows for it.
      await this.audit({action: 'device.job.refused', outcome: 'denied', details: {...base, code: update.error!.code, reason: update.error!.message}, forServer: true})
    } else {
      const details = {...base, status: update.status, ms: this.clock.now() - started, ...(update.error ? {code: update.error.code, reason: update.error.message} : {})}
      await this.audit({action: 'job.finished', outcome: update.status === 'succeeded' ? 'success' : 'failure', details, forServer: false})
    }
    this.finish(update)
  }

  private finish(update: JobUpdate): void {
    this.remember(update.jobId, update)
    this.o.send(update)
  }

  private remember(jobId: string, update: JobUpdate | undefined): void {
    this.seen.delete(jobId)
    this.seen.set(jobId, update)
    const max = this.o.rememberMax ?? 1000
    for (const key of this.seen.keys()) {
      if (this.seen.size <= max) break
      this.seen.delete(key)
    }
  }

  private async audit(input: JobAuditInput): Promise<void> {
    try {
      await this.o.audit(input)
    } catch (error) {
      // An audit that cannot be written (disk full, lock held) is logged; the job still gets its answer.
      this.o.log.warn({err: (error as Error).message, action: input.action}, 'could not record a job in the local audit')
    }
  }
}

function jobError(error: unknown): JobError {
  if (error instanceof JobFailure) return {code: error.code.slice(0, 64), message: error.message.slice(0, 1024)}
  return {code: JobErrorCodes.failed, message: ((error as Error)?.message ?? String(error)).slice(0, 1024)}
}

/** A result over the frame budget is replaced by a note saying so, rather than breaking the channel. */
export function boundResult(result: unknown): unknown {
  const text = JSON.stringify(result) ?? 'null'
  const bytes = Buffer.byteLength(text)
  if (bytes <= MAX_JOB_RESULT_BYTES) return result
  return {truncated: true, bytes, limit: MAX_JOB_RESULT_BYTES, preview: text.slice(0, 4096)}
}
