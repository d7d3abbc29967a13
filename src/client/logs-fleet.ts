import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'
import {DeviceList, type DeviceView} from '../protocol/api/registry.js'
import {TetherError} from '../shared/errors.js'
import {waitForJob} from './job-waiter.js'
import type {Job, JobsApi, LogBundle} from './jobs-api.js'
import {pullBundle} from './logs-pull.js'

/**
 * Log requests and pulls over many devices at once (`logs request --customer …`, `logs pull
 * --customer … --since-request …`). The devices come from the registry's list, which the
 * server filters by the caller's scope, so a device outside it is never asked. Each device
 * gets one row; a failure on one device is recorded in its row and never stops the others.
 */
export interface FleetFilter {
  customer: string
  site?: string
  /** "key=value", all must match. */
  labels: string[]
  model?: string
}

export type FleetState =
  | 'succeeded'
  | 'failed'
  | 'refused'
  | 'expired'
  | 'cancelled'
  /** Offline when asked: the job waits for the device (until --ttl) and is not waited for. */
  | 'offline'
  | 'queued'
  | 'sent'
  | 'running'
  /** The request or the download itself failed (HTTP error, checksum). */
  | 'error'
  /** `pull`: the device has no bundle newer than --since-request. */
  | 'no-bundle'

export interface FleetRow {
  serial: string
  state: FleetState
  jobId: string | null
  bundleId: string | null
  /** Bundle bytes, when there is a bundle. */
  size: number | null
  /** The file written (pull). */
  file: string | null
  elapsedMs: number
  error: string | null
}

export interface FleetResult {
  devices: FleetRow[]
  total: number
  succeeded: number
}

/** Live per-device updates for a progress display (fleet-progress.ts). */
export interface FleetProgress {
  start(serials: string[]): void
  update(serial: string, text: string): void
  stop(): void
}

export async function selectDevices(api: JobsApi, filter: FleetFilter): Promise<DeviceView[]> {
  const query: Record<string, string> = {customer: filter.customer}
  if (filter.site) query.site = filter.site
  // The server filters by one label; the others (and the model) are applied here.
  if (filter.labels[0]) query.label = filter.labels[0]
  const {devices} = await api.client.call('GET', '/devices', {query, response: DeviceList})
  const labels = filter.labels.map((l) => {
    const at = l.indexOf('=')
    return [l.slice(0, at), l.slice(at + 1)] as const
  })
  return devices
    .filter((d) => d.enrolledAt !== null && d.revokedAt === null)
    .filter((d) => filter.model === undefined || d.model === filter.model)
    .filter((d) => labels.every(([k, v]) => d.labels[k] === v))
    .sort((a, b) => (a.serial < b.serial ? -1 : 1))
}

export interface FleetRequestOptions {
  since?: string
  ttlSeconds: number
  wait: boolean
  timeoutMs: number
  concurrency: number
  pollMs?: number
  progress?: FleetProgress
}

/** Asks every device for its logs; with `wait`, waits (bounded) for those online when asked. */
export async function requestFleetLogs(api: JobsApi, devices: DeviceView[], options: FleetRequestOptions): Promise<FleetResult> {
  const deadline = Date.now() + options.timeoutMs
  options.progress?.start(devices.map((d) => d.serial))
  try {
    const rows = await mapLimit(devices, options.concurrency, async (device) => {
      const started = performance.now()
      const row = (job: Job | null, state: FleetState, error: string | null): FleetRow => {
        const result = job?.result as {bundleId?: string; size?: number} | null | undefined
        return {serial: device.serial, state, jobId: job?.id ?? null, bundleId: result?.bundleId ?? null, size: result?.size ?? null, file: null, elapsedMs: Math.round(performance.now() - started), error}
      }
      const say = (text: string) => options.progress?.update(device.serial, text)
      let job: Job
      try {
        say('requesting')
        job = await api.requestLogs(device.serial, {...(options.since ? {since: options.since} : {}), ttlSeconds: options.ttlSeconds})
      } catch (error) {
        say(`error: ${(error as Error).message}`)
        return row(null, 'error', (error as Error).message)
      }
      if (!device.online) {
        say('offline: queued until it connects')
        return row(job, 'offline', 'offline when asked; the job waits for the device until --ttl')
      }
      if (!options.wait) {
        say(job.status)
        return row(job, job.status as FleetState, null)
      }
      try {
        const watched = {getJob: async (id: string) => {
          const j = await api.getJob(id)
          say(jobLine(j))
          return j
        }}
        job = await waitForJob(watched, job, {timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: options.pollMs ?? 2000})
      } catch (error) {
        say(`error: ${(error as Error).message}`)
        return row(job, 'error', (error as Error).message)
      }
      say(jobLine(job))
      return row(job, job.status as FleetState, job.error ? `${job.error.code}: ${job.error.message}` : job.status === 'succeeded' ? null : `still ${job.status} when --timeout passed`)
    })
    return summarize(rows)
  } finally {
    options.progress?.stop()
  }
}

export interface FleetPullOptions {
  /** Only bundles stored since this time (ISO). */
  since: string
  dir: string
  concurrency: number
  progress?: FleetProgress
}

/** Pulls each device's newest bundle stored since `since` into DIR/SERIAL-ID.FORMAT. */
export async function pullFleetLogs(api: JobsApi, devices: DeviceView[], options: FleetPullOptions): Promise<FleetResult> {
  const since = Date.parse(options.since)
  await mkdir(options.dir, {recursive: true})
  options.progress?.start(devices.map((d) => d.serial))
  try {
    const rows = await mapLimit(devices, options.concurrency, async (device) => {
      const started = performance.now()
      const say = (text: string) => options.progress?.update(device.serial, text)
      const row = (bundle: LogBundle | null, state: FleetState, file: string | null, error: string | null): FleetRow => ({
        serial: device.serial, state, jobId: bundle?.jobId ?? null, bundleId: bundle?.id ?? null, size: bundle?.size ?? null, file, elapsedMs: Math.round(performance.now() - started), error,
      })
      try {
        const [newest] = await api.listBundles({device: device.serial, limit: 1})
        if (!newest || Date.parse(newest.createdAt) < since) {
          say('no bundle since the request')
          return row(null, 'no-bundle', null, `no bundle stored since ${options.since}`)
        }
        const file = join(options.dir, `${newest.serial}-${newest.id}.${newest.format}`)
        const r = await pullBundle(api, newest, file, {
          start: () => say('0%'),
          update: (done) => say(`${Math.floor((done / Math.max(1, newest.size)) * 100)}%`),
          stop: () => undefined,
        })
        say('done')
        return row(newest, 'succeeded', r.file, null)
      } catch (error) {
        const message = error instanceof TetherError || error instanceof Error ? error.message : String(error)
        say(`error: ${message}`)
        return row(null, 'error', null, message)
      }
    })
    return summarize(rows)
  } finally {
    options.progress?.stop()
  }
}

function jobLine(job: Job): string {
  const p = job.progress
  if (job.status === 'running' && p) return `running ${p.done}${p.total === undefined ? '' : `/${p.total}`} bytes`
  return job.status
}

function summarize(rows: FleetRow[]): FleetResult {
  return {devices: rows, total: rows.length, succeeded: rows.filter((r) => r.state === 'succeeded').length}
}

/** Runs fn over items, at most `limit` at a time, results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  return out
}
