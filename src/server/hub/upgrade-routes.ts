import type {IncomingMessage, Server} from 'node:http'
import type {Duplex} from 'node:stream'
import type {FastifyBaseLogger} from 'fastify'
import {rejectUpgrade, upgradePath} from './upgrade.js'

/** Handles one upgrade request; `params` holds the path's `:name` segments. Owns the socket from here. */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer, params: Record<string, string>) => Promise<void> | void

interface UpgradeRoute {
  name: string
  segments: string[]
  handler: UpgradeHandler
}

/**
 * The HTTP Upgrade endpoints of the HTTPS server, as one small table: the agent control channel,
 * the agents' tunnel data legs and the engineers' tunnel legs each register a path here, so a
 * new kind of upgraded connection plugs in beside the others instead of into the hub.
 */
export class UpgradeRouter {
  private readonly routes: UpgradeRoute[] = []
  private closing = false

  constructor(private readonly log: FastifyBaseLogger) {}

  /** Registers `pattern` (e.g. `/api/v1/agent/tunnels/:streamId`); one handler per path. */
  add(name: string, pattern: string, handler: UpgradeHandler): void {
    const segments = pattern.split('/')
    if (this.routes.some((r) => r.segments.join('/') === segments.join('/'))) throw new Error(`upgrade path ${pattern} is registered twice`)
    this.routes.push({name, segments, handler})
  }

  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => void this.dispatch(request, socket, head))
  }

  /** From now on every upgrade is answered 503 (the server is stopping). */
  close(): void {
    this.closing = true
  }

  private async dispatch(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', (error) => this.log.debug({err: error}, 'upgrade socket error'))
    const path = upgradePath(request)
    const found = this.match(path)
    if (!found) return rejectUpgrade(socket, 404, 'NOT_FOUND', `no upgrade endpoint at ${path}`)
    if (this.closing) return rejectUpgrade(socket, 503, 'SHUTTING_DOWN', 'the server is shutting down')
    try {
      await found.route.handler(request, socket, head, found.params)
    } catch (error) {
      this.log.error({err: error, route: found.route.name}, 'upgrade handler failed')
      rejectUpgrade(socket, 500, 'INTERNAL', 'the server could not handle the request')
    }
  }

  private match(path: string): {route: UpgradeRoute; params: Record<string, string>} | null {
    const parts = path.split('/')
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue
      const params: Record<string, string> = {}
      const ok = route.segments.every((segment, i) => {
        if (!segment.startsWith(':')) return segment === parts[i]
        if (parts[i] === '') return false
        const value = safeDecode(parts[i])
        if (value === null) return false
        params[segment.slice(1)] = value
        return true
      })
      if (ok) return {route, params}
    }
    return null
  }
}

function safeDecode(segment: string): string | null {
  try {
    return decodeURIComponent(segment)
  } catch {
    return null // a malformed %-escape names no resource: the path does not match
  }
}
