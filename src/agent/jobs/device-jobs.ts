import type {ProxyConfig} from '../../shared/proxy-connect.js'
import {JOB_KINDS, type JobKind} from '../../protocol/agent/index.js'
import {configJobKind, readAgentConfig, type AgentConfig, type AgentFiles} from '../data-dir.js'
import {diagnosticCatalogue, diagnosticExecutor} from '../diagnostics/catalogue.js'
import type {LogRing} from '../diagnostics/log-ring.js'
import type {EventRecorder} from '../events.js'
import {LogsService} from '../logs/service.js'
import type {UploadApi} from '../logs/upload-api.js'
import type {Clock} from '../clock.js'
import {updateExecutor} from '../updates/executor.js'
import type {UpdatesHttp} from '../updates/http.js'
import {readInstalled} from '../updates/installed.js'
import {updateFiles} from '../updates/paths.js'
import {JobRunner, type JobExecutor, type JobRunnerLog, type JobUpdate} from './runner.js'

/**
 * Jobs on a running agent: the runner with its executors (diagnostics, logs), the relay of
 * `job-update`s to whichever control session is up (final updates made while offline are kept,
 * bounded, and sent on the next connect), and the resume of uploads a killed process left in
 * the spool. agent.json is re-read for every job, so accepted kinds, scripts and log sources
 * apply without a restart.
 */
export interface UpdateSink {
  sendJobUpdate(update: JobUpdate): void
}

export interface DeviceJobsOptions {
  config: AgentConfig
  files: AgentFiles
  recorder: EventRecorder
  log: JobRunnerLog
  agentVersion: string
  ring?: LogRing
  /** Opens the upload connection (the control channel's mTLS route); absent = logs jobs fail. */
  uploadApi?: () => UploadApi
  serverCa?: string
  proxy?: ProxyConfig
  /** Opens a connection to the server's update routes (the control channel's mTLS route); absent = update jobs fail. */
  updatesHttp?: () => UpdatesHttp
  /** The clock update jobs wait on (install window, approval); default: the system clock. */
  clock?: Clock
}

const MAX_UNSENT = 200

/** How long a job of each kind may run (agent.json `jobs`). */
const TIMEOUT_SECONDS: Record<JobKind, (config: AgentConfig) => number> = {
  diagnostic: (c) => c.jobs.diagnosticTimeoutSeconds,
  logs: (c) => c.jobs.logsTimeoutSeconds,
  update: (c) => c.jobs.updateTimeoutSeconds,
}

export class DeviceJobs {
  readonly runner: JobRunner
  readonly logs: LogsService
  private readonly executors: Partial<Record<JobKind, JobExecutor>>
  private sink?: UpdateSink
  private readonly unsent = new Map<string, JobUpdate>()
  private lastConfig: AgentConfig
  private resuming?: Promise<void>
  private readonly stopping = new AbortController()
  /** installed.json's version (undefined until first read, null = unknown), for the inventory. */
  softwareVersion: string | null | undefined

  constructor(private readonly o: DeviceJobsOptions) {
    this.lastConfig = o.config
    const config = (): Promise<AgentConfig> => this.config()
    this.logs = new LogsService({
      config,
      files: o.files,
      recorder: o.recorder,
      api: () => {
        if (!o.uploadApi) throw new Error('this agent has no upload connection')
        return o.uploadApi()
      },
    })
    this.executors = {
      diagnostic: diagnosticExecutor({config, files: o.files, agentVersion: o.agentVersion, ring: o.ring, serverCa: o.serverCa, proxy: o.proxy}),
      logs: this.logs.executor(),
      update: updateExecutor({config, files: o.files, recorder: o.recorder, http: o.updatesHttp, clock: o.clock, onInstalled: (version) => (this.softwareVersion = version)}),
    }
    this.runner = new JobRunner({
      executors: this.executors,
      accepts: async (kind) => (await this.config()).acceptedJobKinds.includes(configJobKind(kind)),
      timeoutMs: (kind) => TIMEOUT_SECONDS[kind](this.lastConfig) * 1000,
      concurrency: o.config.jobs.concurrency,
      queueMax: o.config.jobs.queueMax,
      send: (update) => this.send(update),
      audit: async (input) => {
        await o.recorder.record({action: input.action, outcome: input.outcome, actor: 'server', details: input.details}, {forServer: input.forServer})
      },
      log: o.log,
    })
  }

  /** agent.json as it is now; a broken edit keeps the last good config (and says so) rather than stopping jobs. */
  async config(): Promise<AgentConfig> {
    try {
      this.lastConfig = await readAgentConfig(this.o.files)
    } catch (error) {
      this.o.log.warn({err: (error as Error).message}, 'agent.json unreadable; jobs use the last good config')
    }
    try {
      this.softwareVersion = (await readInstalled(updateFiles(this.o.files.updates).installed))?.version ?? null
    } catch (error) {
      this.o.log.warn({err: (error as Error).message}, 'installed.json unreadable; the inventory reports no software version')
      this.softwareVersion = null
    }
    return this.lastConfig
  }

  /** The last good agent.json (re-read on every poll and job). */
  get current(): AgentConfig {
    return this.lastConfig
  }

  /** For the inventory: what this device will run. */
  catalogue(): string[] {
    return diagnosticCatalogue(this.lastConfig)
  }

  /** The kinds this agent can run and its agent.json accepts, as the inventory reports them. */
  jobKinds(): JobKind[] {
    return (Object.keys(JOB_KINDS) as JobKind[]).filter((kind) => this.executors[kind] && this.lastConfig.acceptedJobKinds.includes(configJobKind(kind)))
  }

  /** A control session is up: deliver what waited, and pick up orphaned uploads. */
  attach(sink: UpdateSink): void {
    this.sink = sink
    for (const update of this.unsent.values()) sink.sendJobUpdate(update)
    this.unsent.clear()
    this.resuming ??= this.logs
      .resumeOrphans((jobId, outcome) => this.send(outcome.ok ? {jobId, status: 'succeeded', result: outcome.result} : {jobId, status: 'failed', error: {code: outcome.code, message: outcome.message.slice(0, 1024)}}), this.stopping.signal)
      .then((n) => {
        if (n > 0) this.o.log.info({uploads: n}, 'resumed interrupted log uploads')
      })
      .catch((error: Error) => this.o.log.warn({err: error.message}, 'could not resume interrupted log uploads'))
      .finally(() => (this.resuming = undefined))
  }

  detach(): void {
    this.sink = undefined
  }

  stop(): void {
    this.stopping.abort()
    this.runner.stop()
  }

  private send(update: JobUpdate): void {
    if (this.sink) return this.sink.sendJobUpdate(update)
    // Progress is only worth something live; a final status must reach the server eventually.
    if (update.status === 'running') return
    this.unsent.delete(update.jobId)
    this.unsent.set(update.jobId, update)
    for (const key of this.unsent.keys()) {
      if (this.unsent.size <= MAX_UNSENT) break
      this.unsent.delete(key)
    }
  }
}
