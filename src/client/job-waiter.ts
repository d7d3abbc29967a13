import {setTimeout as sleep} from 'node:timers/promises'
import {FINAL_JOB_STATUSES} from '../protocol/agent/jobs.js'
import {type TetherError, UnavailableError} from '../shared/errors.js'
import {isServerAway} from './http-errors.js'
import type {Job, JobsApi} from './jobs-api.js'

export interface JobWaitOptions {
  /** The bound: after it, the last state seen is returned (not final: exit 8, see jobOutcome). */
  timeoutMs: number
  /** The longest pause between two polls while the server answers (the first ones are shorter). */
  intervalMs?: number
  /** The server stopped answering: called once per outage, with why. */
  onUnreachable?: (error: TetherError) => void
  /** It answers again after an outage. */
  onReachable?: () => void
}

/** Retries while the server is away start here and double up to the cap. */
const RETRY_FIRST_MS = 250
const RETRY_CAP_MS = 5000

/**
 * The one waiter of `diag run --wait` and `logs request --wait`: polls the job until it is
 * final or the bound passes, and returns the last state seen. A server that goes away
 * meanwhile (a restart, a load balancer with no node up: connection refused, reset or timed
 * out, 502/503/504) is waited out with a capped backoff, because the job lives on in the server's database
 * and on the device. Only when the bound passes with the server still away is its error thrown
 * (exit 7): then nobody can tell the job's state. Anything else (auth, scope, a bug) ends the
 * wait at once.
 */
export async function waitForJob(api: Pick<JobsApi, 'getJob'>, job: Job, options: JobWaitOptions): Promise<Job> {
  const deadline = Date.now() + options.timeoutMs
  const intervalMs = options.intervalMs ?? 2000
  let last = job
  let delay = Math.min(intervalMs, RETRY_FIRST_MS)
  let away: TetherError | undefined
  for (;;) {
    try {
      last = await api.getJob(job.id)
      if (away) options.onReachable?.()
      away = undefined
      if (FINAL_JOB_STATUSES.includes(last.status)) return last
      delay = Math.min(delay * 2, intervalMs)
    } catch (error) {
      if (!isServerAway(error)) throw error
      if (!away) {
        options.onUnreachable?.(error)
        delay = RETRY_FIRST_MS
      } else delay = Math.min(delay * 2, RETRY_CAP_MS)
      away = error
    }
    const left = deadline - Date.now()
    if (left <= 0) {
      if (!away) return last
      const seconds = Math.round(options.timeoutMs / 1000)
      throw new UnavailableError(`${away.message}; gave up waiting for job ${job.id} after ${seconds}s, its state is unknown: check later with \`tether jobs show ${job.id}\``, {
        cause: away,
        details: {...away.details, jobId: job.id, lastJobStatus: last.status},
      })
    }
    await sleep(Math.min(delay, left))
  }
}
