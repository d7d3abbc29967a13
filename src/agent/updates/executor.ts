import {UpdateErrorCodes, UpdateJobParams, type UpdateJobResult, type UpdatePhase} from '../../protocol/updates/index.js'
import {JobErrorCodes} from '../../protocol/agent/index.js'
import {systemClock, type Clock} from '../clock.js'
import type {AgentConfig, AgentFiles} from '../data-dir.js'
import type {EventRecorder} from '../events.js'
import {JobFailure, type JobContext, type JobExecutor} from '../jobs/runner.js'
import {approvalOf, requestApproval, withdrawApproval} from './approvals.js'
import {discardDownload, downloadPackage} from './download.js'
import {runHook} from './hooks.js'
import type {UpdatesHttp} from './http.js'
import {readInstalled, writeInstalled} from './installed.js'
import {updateFiles, type UpdateFiles} from './paths.js'
import {ensureTrustedRoot, signedTarget, TufCheckError, UpdatesNetworkError} from './tuf-client.js'
import {checkTargetPolicy, signedSha256, UpdateRefusal, verifyFailed, verifyPackage} from './verify.js'
import {pollUntil, waitForWindow} from './waits.js'
import {parseWindow} from './window.js'

/**
 * The `update` job on the device, in the order the attack list demands: the customer's
 * opt-in; TUF refresh (signatures, thresholds, expiry, rollback of metadata, mix-and-match); the
 * signed custom fields (model, version rule) before a byte of the package is fetched; the
 * resumable download, never past the signed length; hashes and length; approval and install
 * window; install hook, health check, rollback. Every step is a job phase, a local audit line
 * and, for what an auditor reads, a `device.update.step` event through the outbox.
 */
export interface UpdateExecutorOptions {
  config(): Promise<AgentConfig>
  files: AgentFiles
  recorder: EventRecorder
  /** A connection to the server's update routes (the agent's mTLS route); absent = update jobs fail. */
  http?: () => UpdatesHttp
  clock?: Clock
  /** A successful install (the inventory reports the new version). */
  onInstalled?(version: string): void
}

type Step = 'downloaded' | 'verified' | 'refused' | 'installed' | 'health-failed' | 'rolled-back' | 'rollback-failed' | 'install-failed'

export function updateExecutor(o: UpdateExecutorOptions): JobExecutor {
  const clock = o.clock ?? systemClock
  const busy = new Set<string>()
  // One install at a time on a device, whatever the job concurrency: hooks are not written for overlap.
  let installing: Promise<unknown> = Promise.resolve()

  return async (ctx: JobContext): Promise<UpdateJobResult> => {
    const parsed = UpdateJobParams.safeParse(ctx.params)
    if (!parsed.success) throw new JobFailure(JobErrorCodes.failed, `update job params: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`)
    const params = parsed.data
    const config = await o.config()
    if (!config.updates.allowed) throw new JobFailure(UpdateErrorCodes.notAllowed, 'this device does not allow software updates (agent.json updates.allowed is false)', true)
    if (!o.http) throw new JobFailure(UpdateErrorCodes.downloadFailed, 'this agent has no connection for updates')
    if (busy.has(params.targetPath)) throw new JobFailure(JobErrorCodes.busy, `another update job is already working on ${params.targetPath}`)
    busy.add(params.targetPath)
    const report = reporter(o.recorder, ctx, params)
    const http = o.http()
    try {
      return await run({o, ctx, params, config, http, report, clock, files: updateFiles(o.files.updates), exclusive: (fn) => (installing = installing.then(fn, fn))})
    } catch (error) {
      throw await asJobFailure(error, report)
    } finally {
      busy.delete(params.targetPath)
      await http.close().catch(() => undefined)
    }
  }
}

interface Run {
  o: UpdateExecutorOptions
  ctx: JobContext
  params: UpdateJobParams
  config: AgentConfig
  http: UpdatesHttp
  report: ReturnType<typeof reporter>
  clock: Clock
  files: UpdateFiles
  exclusive<T>(fn: () => Promise<T>): Promise<T>
}

async function run({o, ctx, params, config, http, report, clock, files, exclusive}: Run): Promise<UpdateJobResult> {
  const u = config.updates
  report.phase('downloading', 0)
  const trust = await ensureTrustedRoot(files, http)
  if (trust.source !== 'kept') {
    // Trust on first use is the weaker option (docs/updates.md): the audit says which one this device took.
    await report.local('update.root.trusted', {source: trust.source})
  }
  const target = await signedTarget(files, http, params.targetPath)
  if (!target) throw verifyFailed('not-signed', `${params.targetPath} is not among the targets the publisher signed`)
  const installed = await readInstalled(files.installed)
  const previousVersion = installed?.version ?? null
  checkTargetPolicy(target, params, {model: config.model, installedVersion: previousVersion})
  if (!u.install) throw new JobFailure(UpdateErrorCodes.installFailed, 'agent.json updates.install is not set: this device has no install command', true)
  const sha256 = signedSha256(target)

  let lastPercent = -1
  const download = await downloadPackage({
    files,
    http,
    target: {targetPath: params.targetPath, length: target.length, sha256},
    signal: ctx.signal,
    onProgress: (done, total) => {
      const percent = Math.floor((done * 100) / Math.max(total, 1))
      if (percent !== lastPercent) report.phase('downloading', done, total)
      lastPercent = percent
    },
  })
  await report.step('downloaded', 'success', {bytes: download.received})

  report.phase('verifying', target.length, target.length)
  try {
    await verifyPackage(target, download.path)
  } catch (error) {
    // Bytes that fail the signed hash are worth nothing, also not as a resume point.
    await discardDownload(files, sha256)
    throw error
  }
  await report.step('verified', 'success')

  if (u.requireApproval) {
    await requestApproval(files.approvals, o.recorder, {jobId: ctx.jobId, deploymentId: params.deploymentId, version: params.version, targetPath: params.targetPath, length: target.length, sha256, receivedAt: new Date(clock.now()).toISOString()})
    report.phase('waiting-for-approval', 0)
    const decided = await pollUntil(async () => {
      const entry = await approvalOf(files.approvals, ctx.jobId)
      return entry && entry.state !== 'pending' ? entry : undefined
    }, clock, config.pollMs, ctx.signal).catch(async (error: unknown) => {
      // A timed-out job is over; an agent that is stopping gets the job again and keeps waiting.
      if (error instanceof JobFailure && error.code === JobErrorCodes.timeout) await withdrawApproval(files.approvals, o.recorder, ctx.jobId, error.message, clock.now())
      throw error
    })
    if (decided.state === 'withdrawn') throw new JobFailure(JobErrorCodes.timeout, 'the approval was withdrawn: the job timed out before anyone decided')
    // The decision's device.update.step event was recorded by the command that made it.
    if (decided.state === 'deferred') throw new JobFailure(UpdateErrorCodes.deferred, `deferred at the device by ${decided.decidedBy ?? '?'}`, true)
  }

  // Approval first, then the window: a person approves in the day, the device installs at night.
  if (u.window) {
    await waitForWindow(parseWindow(u.window), clock, ctx.signal, async (opensAt) => {
      report.phase('waiting-for-window', 0)
      await report.local('update.waiting-for-window', {window: u.window, opensAt: new Date(opensAt).toISOString()})
    })
  }

  return exclusive(async () => {
    const env = {TETHER_UPDATE_VERSION: params.version, TETHER_UPDATE_PREVIOUS_VERSION: previousVersion ?? ''}
    const hook = (command: string[], extraArgs: string[] = []) => runHook(command, {extraArgs, env, timeoutSeconds: u.hookTimeoutSeconds, signal: ctx.signal})
    report.phase('installing', 0)
    const install = await hook(u.install!, [download.path])
    let failure: {step: Step; code: string; detail: string} | undefined
    if (!install.ok) failure = {step: 'install-failed', code: UpdateErrorCodes.installFailed, detail: `install hook failed: ${install.detail}`}
    else if (u.healthCheck) {
      report.phase('health-check', 0)
      const health = await hook(u.healthCheck)
      if (!health.ok) failure = {step: 'health-failed', code: UpdateErrorCodes.healthFailed, detail: `health check failed: ${health.detail}`}
    }
    if (failure) {
      await report.step(failure.step, 'failure', {reason: failure.detail})
      if (!u.rollback) throw new JobFailure(failure.code, `${failure.detail}; no rollback command configured (agent.json updates.rollback)`)
      report.phase('rolling-back', 0)
      const rollback = await hook(u.rollback)
      if (!rollback.ok) {
        await report.step('rollback-failed', 'failure', {reason: rollback.detail})
        throw new JobFailure(UpdateErrorCodes.rollbackFailed, `${failure.detail}; rollback failed too: ${rollback.detail}`)
      }
      await report.step('rolled-back', 'success', {reason: failure.detail})
      throw new JobFailure(UpdateErrorCodes.rolledBack, `${failure.detail}; rolled back to ${previousVersion ?? 'the previous version'}`)
    }
    await writeInstalled(files.installed, {version: params.version, installedAt: new Date(clock.now()).toISOString(), jobId: ctx.jobId, deploymentId: params.deploymentId})
    await report.step('installed', 'success')
    o.onInstalled?.(params.version)
    await discardDownload(files, sha256)
    return {installedVersion: params.version, previousVersion}
  })
}

/** Phases as job progress; steps to the local audit and (the registry's device.update.step) the server. */
function reporter(recorder: EventRecorder, ctx: JobContext, params: UpdateJobParams) {
  const base = {jobId: ctx.jobId, deploymentId: params.deploymentId, version: params.version}
  return {
    phase(phase: UpdatePhase, done: number, total?: number): void {
      ctx.progress({phase, done, ...(total === undefined ? {} : {total})})
    },
    async step(step: Step, outcome: 'success' | 'failure' | 'denied', extra: {check?: string; reason?: string; bytes?: number} = {}): Promise<void> {
      const details = {...base, step, ...extra, ...(extra.reason ? {reason: extra.reason.slice(0, 1024)} : {})}
      await recorder.record({action: 'device.update.step', outcome, actor: 'agent', details}, {forServer: true})
    },
    async local(action: string, details: Record<string, unknown>): Promise<void> {
      await recorder.record({action, outcome: 'success', actor: 'agent', details: {...base, ...details}}, {forServer: false})
    },
  }
}

/** Refusals are recorded as the step `refused` (with the check) and end the job `refused`; network trouble fails it. */
async function asJobFailure(error: unknown, report: ReturnType<typeof reporter>): Promise<unknown> {
  let refusal: UpdateRefusal | undefined
  if (error instanceof UpdateRefusal) refusal = error
  else if (error instanceof TufCheckError) refusal = verifyFailed(error.check, error.message)
  if (refusal) {
    await report.step('refused', 'denied', {reason: refusal.message, ...(refusal.check ? {check: refusal.check} : {})})
    return new JobFailure(refusal.code, refusal.message, true)
  }
  if (error instanceof UpdatesNetworkError) return new JobFailure(UpdateErrorCodes.downloadFailed, error.message)
  return error
}
