import {randomUUID} from 'node:crypto'
import type {FastifyBaseLogger} from 'fastify'
import type {Kysely} from 'kysely'
import {type AccessRequestParams, DEFAULT_ACCESS_DECISION_TTL_SECONDS} from '../../protocol/agent/access.js'
import type {RequestMessage, ResponseMessage} from '../../protocol/agent/messages.js'
import type {AccessRequestQuery, AccessRequestView, CreateAccessRequest} from '../../protocol/api/access.js'
import {NotFoundError} from '../../shared/errors.js'
import type {AuditLog} from '../audit/types.js'
import type {Scope} from '../auth/principal.js'
import {inScope, scopeWhere} from '../auth/scope.js'
import type {AccessRequest, Database, Device} from '../db/schema.js'
import {transition} from './transitions.js'

type Db = Kysely<Database>

/** Requests one sweep sends at most (the rest go in the next second's sweep). */
const MAX_DELIVERIES_PER_SWEEP = 200

/** What the service needs of the hub: ask a connected agent and wait for its answer. */
export interface AccessSender {
  /** Connected to this node (only then can it be asked). */
  isOnline(serial: string): boolean
  /** Connected to any node (presence); recorded with access.requested. Default: isOnline. */
  isOnlineAnywhere?(serial: string): Promise<boolean>
  /** Another node may hold the device: wake it after the request committed (LISTEN/NOTIFY). */
  wakeOwner?(serial: string): Promise<void>
  request(serial: string, body: Omit<Extract<RequestMessage, {kind: 'access.request'}>, 'id' | 'type'>, timeoutMs?: number): Promise<ResponseMessage>
}

/**
 * Engineers' just-in-time access requests (docs/access-requests.md). Stored first (pending,
 * audited access.requested), delivered to the device at once when it is online and by the sweep
 * (every second) when it connects later, until the device has stored it. The device decides;
 * its `device.access.decided` event moves the request (decisions.ts). The sweep also expires
 * what is due: undecided past expires_at, and grants past until.
 */
export class AccessService {
  private readonly delivering = new Set<string>()

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly sender: AccessSender,
    private readonly log: FastifyBaseLogger,
  ) {}

  async create(device: Device, input: CreateAccessRequest & {requestedBy: string; sourceIp?: string}): Promise<AccessRequest> {
    const now = new Date()
    const row: AccessRequest = {
      id: randomUUID(),
      serial: device.serial,
      customer_id: device.customer_id,
      requested_by: input.requestedBy,
      reason: input.reason,
      ports: JSON.stringify(input.ports ?? []),
      duration_seconds: input.durationSeconds,
      state: 'pending',
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + (input.ttlSeconds ?? DEFAULT_ACCESS_DECISION_TTL_SECONDS) * 1000).toISOString(),
      delivered_at: null,
      decided_at: null,
      decided_by: null,
      until: null,
    }
    const online = this.sender.isOnlineAnywhere ? await this.sender.isOnlineAnywhere(device.serial) : this.sender.isOnline(device.serial)
    await this.audit.transaction(async (trx, record) => {
      await trx.insertInto('access_requests').values(row).execute()
      record({
        actorType: 'user',
        actor: input.requestedBy,
        action: 'access.requested',
        outcome: 'success',
        deviceSerial: device.serial,
        customerId: device.customer_id,
        sourceIp: input.sourceIp ?? null,
        details: {requestId: row.id, reason: row.reason, ports: input.ports ?? [], durationSeconds: row.duration_seconds, expiresAt: row.expires_at, online},
      })
    })
    if (!(await this.deliver(row))) await this.sender.wakeOwner?.(row.serial)
    return this.byId(row.id)
  }

  /** Delivers the device's undelivered requests if it is connected here (a wake-up from another node). */
  async deliverPending(serial: string, now = new Date()): Promise<void> {
    if (!this.sender.isOnline(serial)) return
    const rows = await this.db
      .selectFrom('access_requests')
      .selectAll()
      .where('serial', '=', serial)
      .where('state', '=', 'pending')
      .where('delivered_at', 'is', null)
      .where('expires_at', '>', now.toISOString())
      .orderBy('created_at')
      .execute()
    for (const row of rows) await this.deliver(row)
  }

  /** One sweep: expire what is due, then deliver undelivered requests to devices now online. */
  async sweep(now = new Date()): Promise<void> {
    await this.expireDue(now)
    // Ids and serials only, then the online ones in full: requests waiting for offline devices
    // must not crowd out those a device that just connected should get now.
    const undelivered = await this.db
      .selectFrom('access_requests')
      .select(['id', 'serial'])
      .where('state', '=', 'pending')
      .where('delivered_at', 'is', null)
      .where('expires_at', '>', now.toISOString())
      .execute()
    const due = undelivered.filter((r) => this.sender.isOnline(r.serial)).map((r) => r.id).slice(0, MAX_DELIVERIES_PER_SWEEP)
    if (due.length === 0) return
    const rows = await this.db.selectFrom('access_requests').selectAll().where('id', 'in', due).orderBy('created_at').execute()
    await Promise.all(rows.map((r) => this.deliver(r)))
  }

  /** Pending past their decision deadline, and approved past their grant's end, become expired (audited each). */
  async expireDue(now = new Date()): Promise<number> {
    const at = now.toISOString()
    const due = await this.db
      .selectFrom('access_requests')
      .selectAll()
      .where((eb) => eb.or([eb.and([eb('state', '=', 'pending'), eb('expires_at', '<=', at)]), eb.and([eb('state', '=', 'approved'), eb('until', '<=', at)])]))
      .execute()
    for (const request of due) {
      await this.audit.transaction((trx, record) =>
        transition(trx, record, request, {
          to: 'expired',
          set: request.state === 'pending' ? {decided_at: at, decided_by: 'server'} : {},
          actorType: 'system',
          actor: 'access',
          details: request.state === 'pending' ? {why: 'not decided in time', expiresAt: request.expires_at} : {why: 'the grant ran out', until: request.until},
        }),
      )
    }
    return due.length
  }

  async get(scope: Scope, id: string): Promise<AccessRequest> {
    await this.expireDue()
    const row = await this.db
      .selectFrom('access_requests')
      .innerJoin('devices', 'devices.serial', 'access_requests.serial')
      .selectAll('access_requests')
      .select('devices.site_id as site_id')
      .where('access_requests.id', '=', id)
      .executeTakeFirst()
    if (!row || !inScope(scope, row.customer_id, row.site_id)) throw new NotFoundError(`no access request "${id}"`)
    const {site_id: _site, ...request} = row
    return request
  }

  async list(scope: Scope, query: AccessRequestQuery): Promise<AccessRequest[]> {
    await this.expireDue()
    let q = this.db
      .selectFrom('access_requests')
      .innerJoin('devices', 'devices.serial', 'access_requests.serial')
      .selectAll('access_requests')
      .where((eb) => scopeWhere(eb, scope, {customerColumn: 'devices.customer_id', siteColumn: 'devices.site_id'}))
    if (query.device) q = q.where('access_requests.serial', '=', query.device)
    if (query.state) q = q.where('access_requests.state', '=', query.state)
    return q.orderBy('access_requests.created_at', 'desc').limit(query.limit ?? 100).execute()
  }

  /**
   * Sends the request to the device and marks it delivered once the agent has stored it. A
   * device that is offline, slow or refuses is left undelivered: the sweep tries again.
   */
  private async deliver(row: AccessRequest): Promise<boolean> {
    if (!this.sender.isOnline(row.serial) || this.delivering.has(row.id)) return false
    this.delivering.add(row.id)
    try {
      const answer = await this.sender.request(row.serial, {kind: 'access.request', params: paramsOf(row)})
      if (!answer.ok) {
        this.log.warn({serial: row.serial, requestId: row.id, error: answer.error}, 'access: the device did not take the request; retried by the sweep')
        return false
      }
      await this.db.updateTable('access_requests').set({delivered_at: new Date().toISOString()}).where('id', '=', row.id).where('delivered_at', 'is', null).execute()
      return true
    } catch (error) {
      this.log.info({serial: row.serial, requestId: row.id, err: error}, 'access: delivering a request failed; retried by the sweep')
      return false
    } finally {
      this.delivering.delete(row.id)
    }
  }

  private async byId(id: string): Promise<AccessRequest> {
    return this.db.selectFrom('access_requests').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
  }
}

function paramsOf(row: AccessRequest): AccessRequestParams {
  return {
    requestId: row.id,
    user: row.requested_by,
    reason: row.reason,
    ports: JSON.parse(row.ports) as number[],
    durationSeconds: row.duration_seconds,
    requestedAt: row.created_at,
    expiresAt: row.expires_at,
  }
}

export function accessRequestView(row: AccessRequest): AccessRequestView {
  return {
    id: row.id,
    serial: row.serial,
    customer: row.customer_id,
    requestedBy: row.requested_by,
    reason: row.reason,
    ports: JSON.parse(row.ports) as number[],
    durationSeconds: row.duration_seconds,
    state: row.state,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    deliveredAt: row.delivered_at,
    decidedAt: row.decided_at,
    decidedBy: row.decided_by,
    until: row.until,
  }
}
