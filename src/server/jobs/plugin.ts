import fp from 'fastify-plugin'
import {JobService} from './service.js'

const EXPIRY_SWEEP_MS = 30_000

declare module 'fastify' {
  interface FastifyInstance {
    /** Jobs to devices (src/server/jobs). */
    jobs: JobService
  }
}

/** app.jobs, wired to the hub (push on connect, job-update from agents) and an expiry sweep. */
export const jobsPlugin = fp(
  async (app) => {
    const jobs = new JobService(app.db, app.audit, app.hub, app.log)
    app.decorate('jobs', jobs)
    app.hub.setJobHandler({connected: (serial) => jobs.onConnected(serial), update: (device, update) => jobs.onUpdate(device, update)})
    let timer: NodeJS.Timeout | undefined
    app.addHook('onReady', async () => {
      timer = setInterval(() => {
        jobs.expireDue().catch((error: unknown) => app.log.error({err: error}, 'jobs: expiry sweep failed'))
      }, EXPIRY_SWEEP_MS)
      timer.unref()
    })
    app.addHook('onClose', async () => clearInterval(timer))
  },
  {name: 'tether-jobs', dependencies: ['tether-db', 'tether-audit', 'tether-hub']},
)
