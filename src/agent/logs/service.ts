import {randomUUID} from 'node:crypto'
import {LogsJobParams, type LogsJobResult} from '../../protocol/agent/index.js'
import type {AgentConfig, AgentFiles} from '../data-dir.js'
import type {EventRecorder} from '../events.js'
import {JobFailure, type JobExecutor} from '../jobs/runner.js'
import {processAlive} from '../status-file.js'
import {spoolFile, startCollection} from './collect.js'
import type {UploadApi} from './upload-api.js'
import {adoptCollected, type CollectionSource, uploadBundle, UploadStore, type PendingUpload, type UploadOutcome} from './uploader.js'

/**
 * Log collections end to end on the device: collect into the spool, upload (resumably), audit,
 * clean up. Used by the `logs` job executor, by `tether agent logs upload`, and on (re)connect
 * to finish uploads a killed agent or command left in the spool.
 */
export interface LogsDeps {
  config(): Promise<AgentConfig>
  files: AgentFiles
  /** A fresh upload connection (closed after each upload). */
  api(): UploadApi
  recorder: EventRecorder
  /** Test hook: shorter retry waits. */
  retryBaseMs?: number
}

export interface LogsRunResult extends LogsJobResult {
  files: number | null
  resumedFrom: number
  bytesSent: number
}

/** Bundles waiting in the spool at most (each is bounded by logs.maxBundleBytes). */
export const MAX_PENDING_UPLOADS = 4

export class LogsService {
  readonly store: UploadStore
  /** Uploads this process is working on right now: a second caller (job re-pushed while resuming) shares the first. */
  private readonly active = new Map<string, Promise<LogsRunResult>>()

  constructor(private readonly deps: LogsDeps) {
    this.store = new UploadStore(deps.files.spool)
  }

  async collectAndUpload(input: {jobId?: string; since?: string; signal?: AbortSignal; onProgress?: (done: number, total: number) => void; actor?: string}): Promise<LogsRunResult> {
    const config = await this.deps.config()
    const actor = input.actor ?? 'server'
    let pending = await this.store.list()
    // The same job pushed again after an agent restart continues the upload it already started,
    // if its collection had finished; a collection cut short cannot be continued (the tar and
    // zstd state died with the process), so it is dropped and the job collects again.
    const existing = input.jobId ? pending.find((p) => p.jobId === input.jobId) : undefined
    if (existing && existing.size !== null) {
      existing.pid = process.pid
      return this.upload(existing, config, input, actor, null)
    }
    if (existing && !this.active.has(existing.localId)) {
      await this.store.remove(existing)
      pending = pending.filter((p) => p !== existing)
    }
    if (pending.length >= MAX_PENDING_UPLOADS) throw new JobFailure('SPOOL_FULL', `${pending.length} log bundles are still waiting to be uploaded; try again when they are through`)
    const sinceMs = input.since === undefined ? undefined : Date.parse(input.since)
    if (sinceMs !== undefined && Number.isNaN(sinceMs)) throw new JobFailure('BAD_PARAMS', `since: "${input.since}" is not an ISO-8601 time`)
    const details = {...(input.jobId ? {jobId: input.jobId} : {}), ...(input.since ? {since: input.since} : {}), sources: config.logSources}
    await this.deps.recorder.record({action: 'logs.collection.started', outcome: 'success', actor, details}, {forServer: false})
    const finished = (outcome: 'success' | 'failure', more: Record<string, unknown>) => this.deps.recorder.record({action: 'logs.collection.finished', outcome, actor, details: {...details, ...more}}, {forServer: false})
    const localId = randomUUID()
    const state: PendingUpload = {localId, file: spoolFile(this.deps.files.spool, localId), size: null, sha256: null, format: 'tar.zst', streamed: true, ...(input.jobId ? {jobId: input.jobId} : {}), ...(input.since ? {since: input.since} : {}), uploadId: null, offset: 0, pid: process.pid, createdAt: new Date().toISOString()}
    // A failed upload stops the collection too: nobody would read the rest.
    const stop = new AbortController()
    const signal = input.signal ? AbortSignal.any([input.signal, stop.signal]) : stop.signal
    let collection
    try {
      collection = await startCollection({
        localId,
        sources: config.logSources,
        baseDir: this.deps.files.dir,
        spoolDir: this.deps.files.spool,
        sinceMs,
        maxBytes: config.logs.maxBundleBytes,
        zstdLevel: config.logs.zstdLevel,
        signal,
        // Saved and recorded as soon as the collection ends, while the upload still runs: a
        // kill after this point resumes the upload instead of collecting again.
        onSettled: async (r, error) => {
          if (!r) {
            await finished('failure', {reason: error?.message ?? 'unknown'})
            return
          }
          await adoptCollected(this.store, state, r)
          await finished('success', {files: collection!.bundle.files, size: r.size, sha256: r.sha256})
        },
      })
    } catch (error) {
      await finished('failure', {reason: (error as Error).message})
      throw error
    }
    const {bundle, done} = collection
    await this.store.save(state)
    try {
      return await this.upload(state, config, input, actor, bundle.files, bundle)
    } catch (error) {
      stop.abort(error)
      throw error
    } finally {
      // The collection's own outcome is recorded by onSettled; wait for it, whatever it was.
      await done.catch(() => undefined)
    }
  }

  /** The executor for `logs` jobs. */
  executor(): JobExecutor {
    return async (ctx) => {
      const params = LogsJobParams.parse(ctx.params ?? {})
      const r = await this.collectAndUpload({jobId: ctx.jobId, since: params.since, signal: ctx.signal, onProgress: (done, total) => ctx.progress({done, total})})
      return {bundleId: r.bundleId, size: r.size, sha256: r.sha256, files: r.files, resumedFrom: r.resumedFrom}
    }
  }

  /**
   * Finishes uploads left in the spool by a process that is gone (agent killed, command
   * interrupted). `onFinished` reports the outcome of those that belonged to a job.
   */
  async resumeOrphans(onFinished: (jobId: string, outcome: {ok: true; result: LogsJobResult} | {ok: false; code: string; message: string}) => void, signal?: AbortSignal): Promise<number> {
    const config = await this.deps.config()
    let resumed = 0
    for (const state of await this.store.list()) {
      if (this.active.has(state.localId) || (state.pid !== process.pid && processAlive(state.pid))) continue
      // Its collection was cut short: nothing to resume (a job's re-push collects again).
      if (state.size === null) {
        await this.store.remove(state)
        continue
      }
      state.pid = process.pid
      await this.store.save(state)
      resumed++
      try {
        const r = await this.upload(state, config, {signal}, 'agent', null)
        if (state.jobId) onFinished(state.jobId, {ok: true, result: {bundleId: r.bundleId, size: r.size, sha256: r.sha256}})
      } catch (error) {
        if (signal?.aborted) break
        if (state.jobId) onFinished(state.jobId, {ok: false, code: error instanceof JobFailure ? error.code : 'UPLOAD_FAILED', message: (error as Error).message})
      }
    }
    return resumed
  }

  private upload(state: PendingUpload, config: AgentConfig, input: {signal?: AbortSignal; onProgress?: (done: number, total: number) => void}, actor: string, files: number | null, source?: CollectionSource): Promise<LogsRunResult> {
    const running = this.active.get(state.localId)
    if (running) return running
    const promise = this.uploadOnce(state, config, input, actor, files, source).finally(() => this.active.delete(state.localId))
    this.active.set(state.localId, promise)
    return promise
  }

  private async uploadOnce(state: PendingUpload, config: AgentConfig, input: {signal?: AbortSignal; onProgress?: (done: number, total: number) => void}, actor: string, files: number | null, source?: CollectionSource): Promise<LogsRunResult> {
    const api = this.deps.api()
    let outcome: UploadOutcome
    try {
      outcome = await uploadBundle(api, this.store, state, {chunkBytes: config.logs.chunkBytes, signal: input.signal, onProgress: input.onProgress, retryBaseMs: this.deps.retryBaseMs, source})
    } catch (error) {
      // An abort (timeout, agent stopping) keeps a collected bundle for a resume; a refusal or a
      // failed collection discards it (a collection cut short cannot be continued).
      if (state.size === null || (!input.signal?.aborted && error instanceof JobFailure)) {
        await this.store.remove(state)
        const code = error instanceof JobFailure ? error.code : 'UPLOAD_FAILED'
        await this.deps.recorder.record({action: 'logs.uploaded', outcome: 'failure', actor, details: {...(state.jobId ? {jobId: state.jobId} : {}), size: state.size, code, reason: (error as Error).message}}, {forServer: false})
      }
      throw error
    } finally {
      await api.close().catch((error: Error) => void error)
    }
    await this.store.remove(state)
    await this.deps.recorder.record({action: 'logs.uploaded', outcome: 'success', actor, details: {...(state.jobId ? {jobId: state.jobId} : {}), bundleId: outcome.bundleId, size: outcome.size, sha256: outcome.sha256, resumedFrom: outcome.resumedFrom}}, {forServer: false})
    return {bundleId: outcome.bundleId, size: outcome.size, sha256: outcome.sha256, files, resumedFrom: outcome.resumedFrom, bytesSent: outcome.bytesSent}
  }
}
