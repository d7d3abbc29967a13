import fp from 'fastify-plugin'
import {JobService} from './service.js'

const EXPIRY_SWEEP_MS = 30_000
/** Several nodes: how long a missed wake-up can delay a queued job for a device connected here. */
const QUEUED_SWEEP_MS = 5000

declare module 'fastify' {
  interface FastifyInstance {
    /** Jobs to devices (src/server/jobs). */
    jobs: JobService
  }
}

/**
 * app.jobs, wired to the hub (push on connect, job-update from agents), to presence (a job for a
 * device on another node is recorded as online and wakes that node) and to two sweeps: expiry,
 * and on PostgreSQL queued jobs for devices connected here (the database is the source of truth,
 * so a lost NOTIFY only delays a job).
 */
export const jobsPlugin = fp(
  async (app) => {
    const jobs = new JobService(
      app.db,
      app.audit,
      {
        isOnline: (serial) => app.hub.isOnline(serial) || app.presence.isOnline(serial),
        sendJob: (serial, job) => app.hub.sendJob(serial, job),
        wakeOwner: (serial) => app.wake.notify('jobs', serial),
      },
      app.log,
    )
    app.decorate('jobs', jobs)
    app.hub.setJobHandler({connected: (serial) => jobs.onConnected(serial), update: (device, update) => jobs.onUpdate(device, update)})
    const pushQueuedHere = async (serial: string | null) => {
      const serials = serial === null ? await jobs.serialsWithQueuedJobs() : [serial]
      for (const s of serials) if (app.hub.isOnline(s)) await jobs.pushQueued(s)
    }
    app.wake.on('jobs', pushQueuedHere)
    const timers: NodeJS.Timeout[] = []
    app.addHook('onReady', async () => {
      const every = (ms: number, what: string, run: () => Promise<unknown>) => {
        const timer = setInterval(() => run().catch((error: unknown) => app.log.error({err: error}, `jobs: ${what} failed`)), ms)
        timer.unref()
        timers.push(timer)
      }
      every(EXPIRY_SWEEP_MS, 'expiry sweep', () => jobs.expireDue())
      if (app.dbDialect === 'postgres') every(QUEUED_SWEEP_MS, 'queued-jobs sweep', () => pushQueuedHere(null))
    })
    app.addHook('onClose', async () => {
      for (const timer of timers) clearInterval(timer)
    })
  },
  {name: 'tether-jobs', dependencies: ['tether-db', 'tether-audit', 'tether-hub', 'tether-cluster']},
)
