import fp from 'fastify-plugin'
import {AccessService} from './service.js'

/** Short: delivery to a device that just connected, and the end of a grant, wait at most this long. */
const ACCESS_SWEEP_MS = 1000

declare module 'fastify' {
  interface FastifyInstance {
    /** Just-in-time access requests (src/server/access). */
    access: AccessService
  }
}

/**
 * app.access, with its sweep: expiry of undecided requests and of grants, and delivery of
 * requests to devices that came online (the hub needs no hook for it: the sweep asks it who is
 * connected). The sweep is two indexed queries when there is nothing to do.
 */
export const accessPlugin = fp(
  async (app) => {
    const access = new AccessService(
      app.db,
      app.audit,
      {
        isOnline: (serial) => app.hub.isOnline(serial),
        isOnlineAnywhere: async (serial) => app.hub.isOnline(serial) || app.presence.isOnline(serial),
        request: (serial, body, timeoutMs) => app.hub.request(serial, body, timeoutMs),
        wakeOwner: (serial) => app.wake.notify('access', serial),
      },
      app.log,
    )
    // Another node stored a request for a device connected here: deliver now, not at the next sweep.
    app.wake.on('access', async (serial) => (serial === null ? access.sweep() : access.deliverPending(serial)))
    app.decorate('access', access)
    let timer: NodeJS.Timeout | undefined
    let running = false
    app.addHook('onReady', async () => {
      timer = setInterval(() => {
        if (running) return
        running = true
        access
          .sweep()
          .catch((error: unknown) => app.log.error({err: error}, 'access: sweep failed; retried next second'))
          .finally(() => (running = false))
      }, ACCESS_SWEEP_MS)
      timer.unref()
    })
    app.addHook('onClose', async () => clearInterval(timer))
  },
  {name: 'tether-access', dependencies: ['tether-db', 'tether-audit', 'tether-hub', 'tether-cluster']},
)
