import fp from 'fastify-plugin'
import type {TargetCatalog} from './catalog.js'
import {RolloutEngine} from './engine.js'
import {DeploymentService} from './service.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Staged rollouts of updates (src/server/rollouts). */
    deployments: DeploymentService
  }
}

/** Jobs created per deployment per pass, deployments per tick: a tick stays short whatever the fleet. */
const DISPATCH_BATCH = 200
const TICK_DEPLOYMENTS = 50

/**
 * app.deployments and its engine: follows update jobs (JobService.onChange) and ticks every
 * deployments.tickSeconds for what no job change announces (deadlines, stage waits, devices that
 * joined the group). The tick stops with the server, and close waits for a pass under way.
 */
export const deploymentsPlugin = fp(
  async (app) => {
    const engine = new RolloutEngine(app.db, app.audit, app.jobs, app.log, {now: () => new Date(), dispatchBatch: DISPATCH_BATCH, tickDeployments: TICK_DEPLOYMENTS})
    const service = new DeploymentService(app.db, app.audit, app.jobs, engine)
    // The update service (published TUF targets) is what deployments look versions up in, when registered.
    const updates = (app as unknown as {updates?: Partial<TargetCatalog>}).updates
    if (typeof updates?.findTarget === 'function') service.catalog = updates as TargetCatalog
    app.decorate('deployments', service)
    app.jobs.onChange((job) => engine.onJobChange(job))
    let timer: NodeJS.Timeout | undefined
    let ticking = false
    app.addHook('onReady', async () => {
      timer = setInterval(() => {
        if (ticking) return
        ticking = true
        engine
          .tick()
          .catch((error: unknown) => app.log.error({err: error}, 'rollouts: tick failed; retried next tick'))
          .finally(() => (ticking = false))
      }, app.config.deployments.tickSeconds * 1000)
      timer.unref()
    })
    app.addHook('onClose', async () => {
      clearInterval(timer)
      await engine.idle()
    })
  },
  {name: 'tether-deployments', dependencies: ['tether-db', 'tether-audit', 'tether-jobs']},
)
