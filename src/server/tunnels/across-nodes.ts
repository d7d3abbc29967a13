import type {FastifyBaseLogger} from 'fastify'
import type {TunnelView} from '../../protocol/api/tunnels.js'
import {ForbiddenError, NotFoundError, UnavailableError} from '../../shared/errors.js'
import {hasPermission} from '../auth/permissions.js'
import type {Principal, Scope} from '../auth/principal.js'
import {inScope} from '../auth/scope.js'
import type {NodeWake} from '../cluster/wake.js'
import type {LiveTunnelRow} from '../db/schema.js'
import type {TunnelDirectory} from './directory.js'
import {type LiveTunnel, type LiveTunnels, rowView, tunnelView} from './live.js'

/** How long a close asked of another node may take to be confirmed (its row gone, close audited). */
export const CLOSE_CONFIRM_MS = 5000
const CONFIRM_POLL_MS = 100

/**
 * Live streams of every node, for `tunnels list` and `tunnels close` on any node (the routes),
 * and the owner's side of it: counters refreshed and close requests read on the lease tick,
 * close requests also woken by NOTIFY. This node's own streams are answered from memory; other
 * nodes' from the rows they wrote (directory.ts). On SQLite there is one node, so every live row
 * is this node's and nothing crosses.
 */
export class TunnelsAcrossNodes {
  constructor(
    private readonly live: LiveTunnels,
    private readonly directory: TunnelDirectory,
    private readonly wake: NodeWake,
    private readonly nodeId: () => string,
    private readonly log: FastifyBaseLogger,
    private readonly confirmMs = CLOSE_CONFIRM_MS,
  ) {}

  /** Streams of every live node in `scope` (optionally to one device), oldest first. */
  async list(scope: Scope, device?: string): Promise<TunnelView[]> {
    const rows = await this.directory.live()
    return rows.filter((r) => inScope(scope, r.customer_id, r.site_id) && (device === undefined || r.serial === device)).map((r) => this.view(r))
  }

  /**
   * Closes a stream wherever it runs, for `principal` (its owner, or devices:manage; 404 outside
   * the scope). Another node's stream: the request is stored in its row, the node woken, and the
   * answer waits (bounded) until the row is gone, which happens with the audited close.
   */
  async close(principal: Principal, id: string): Promise<TunnelView> {
    const [row] = await this.directory.live(Date.now(), id)
    if (!row || !inScope(principal.scope, row.customer_id, row.site_id)) throw new NotFoundError(`no live tunnel "${id}"`)
    if (row.user_id !== principal.userId && !hasPermission(principal.permissions, 'devices:manage')) {
      throw new ForbiddenError(`tunnel "${id}" belongs to ${row.username}: only they or a user with devices:manage can close it`)
    }
    const view = this.view(row)
    const here = this.live.get(id)
    if (row.node_id === this.nodeId()) {
      if (!here) throw new NotFoundError(`no live tunnel "${id}"`)
      here.close('closed-by-user', principal.username)
      return view
    }
    await this.directory.requestClose(id, principal.username)
    await this.wake.notify('tunnels', id)
    if (await this.confirmed(id)) return view
    throw new UnavailableError(`node "${row.node_id}" did not confirm closing tunnel "${id}" within ${this.confirmMs} ms; it closes it when it reads the request (tether tunnels list shows whether it is still live)`, {
      code: 'TUNNEL_CLOSE_UNCONFIRMED',
      suggestions: ['Run `tether tunnels list` in a few seconds; the node closes the stream once it reads the request, or its streams are closed as node-lost if it is down.'],
    })
  }

  /** The owner's NOTIFY handler: closes this node's streams other nodes asked to close. */
  async closeRequested(): Promise<void> {
    if (this.live.size === 0) return
    this.closeAsked(await this.directory.closeRequests())
  }

  /**
   * The lease tick: counters of this node's streams in one statement, close requests missed by
   * NOTIFY, and streams whose row is gone (a survivor took this node for lost and audited their
   * close as node-lost): those are cut, since nothing would audit them any more.
   */
  async tick(): Promise<void> {
    const tunnels = this.live.all()
    if (tunnels.length === 0) return
    const {recorded, closeRequests} = await this.directory.refresh(tunnels)
    this.closeAsked(closeRequests)
    for (const t of tunnels) {
      if (!recorded.has(t.id) && this.live.get(t.id)) {
        this.log.error({tunnelId: t.id}, 'tunnels: this stream was closed as node-lost by another node (this node\'s lease ran out); cutting it')
        t.close('node-lost')
      }
    }
  }

  private closeAsked(requests: Map<string, string>): void {
    for (const [id, by] of requests) this.live.get(id)?.close('closed-by-user', by)
  }

  private async confirmed(id: string): Promise<boolean> {
    const deadline = Date.now() + this.confirmMs
    for (let i = 0; i < Math.ceil(this.confirmMs / CONFIRM_POLL_MS) + 1; i++) {
      if (!(await this.directory.exists(id))) return true
      if (Date.now() >= deadline) return false
      await new Promise((resolve) => setTimeout(resolve, CONFIRM_POLL_MS))
    }
    return false
  }

  private view(row: LiveTunnelRow): TunnelView {
    const here: LiveTunnel | undefined = row.node_id === this.nodeId() ? this.live.get(row.id) : undefined
    return here ? tunnelView(here, row.node_id) : rowView(row)
  }
}
