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

/** What the shared waiter polls: an object on the server that becomes final at some point. */
export interface Waitable<T> {
  /** The object as first seen (returned when the bound passes before any poll answered). */
  first: T
  get(): Promise<T>
  isFinal(value: T): boolean
  /** The bound passed with the server away: the error to throw (names the object and how to check later). */
  unknown(away: TetherError, last: T, seconds: number): TetherError
}

/**
 * The one waiter of `diag run --wait`, `logs request --wait` and `access request|list --wait`:
 * polls until the object is final or the bound passes, and returns the last state seen. A server
 * that goes away meanwhile (a restart, a load balancer with no node up: connection refused, reset
 * or timed out, 502/503/504) is waited out with a capped backoff, because the object lives on in
 * the server's database and on the device. Only when the bound passes with the server still away
 * is an error thrown (exit 7): then nobody can tell the state. Anything else (auth, scope, a bug)
 * ends the wait at once.
 */
export async function waitUntilFinal<T>(target: Waitable<T>, options: JobWaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  const intervalMs = options.intervalMs ?? 2000
  let last = target.first
  let delay = Math.min(intervalMs, RETRY_FIRST_MS)
  let away: TetherError | undefined
  for (;;) {
    try {
      last = await target.get()
      if (away) options.onReachable?.()
      away = undefined
      if (target.isFinal(last)) return last
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
      throw target.unknown(away, last, Math.round(options.timeoutMs / 1000))
    }
    await sleep(Math.min(delay, left))
  }
}

/** waitUntilFinal for a job. */
export function waitForJob(api: Pick<JobsApi, 'getJob'>, job: Job, options: JobWaitOptions): Promise<Job> {
  return waitUntilFinal(
    {
      first: job,
      get: () => api.getJob(job.id),
      isFinal: (j) => FINAL_JOB_STATUSES.includes(j.status),
      unknown: (away, last, seconds) =>
        new UnavailableError(`${away.message}; gave up waiting for job ${job.id} after ${seconds}s, its state is unknown: check later with \`tether jobs show ${job.id}\``, {
          cause: away,
          details: {...away.details, jobId: job.id, lastJobStatus: last.status},
        }),
    },
    options,
  )
}
