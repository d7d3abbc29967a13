import type {FastifyRequest} from 'fastify'
import fp from 'fastify-plugin'
import type {Kysely} from 'kysely'
import type {Database} from '../db/schema.js'
import {AuditChain} from './chain.js'
import {Checkpoints, loadCheckpointSigner} from './checkpoints.js'
import type {AuditEvent, AuditInput} from './types.js'
import './types.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Signed checkpoints of the chain head (audit/checkpoints.ts). */
    checkpoints: Checkpoints
  }
}

/**
 * app.audit: the hash-chained audit log on the server's database, and app.checkpoints, which
 * signs its head every audit.checkpointIntervalSeconds (when it moved) with the key from the data
 * dir. Queued appends are written before the database closes (onClose hooks run in reverse
 * registration order).
 */
export const auditPlugin = fp(
  async (app) => {
    const chain = new AuditChain(app.db, app.dbDialect)
    app.decorate('audit', chain)
    const checkpoints = new Checkpoints({db: app.db, dialect: app.dbDialect}, await loadCheckpointSigner(app.config.audit.checkpointKeyFile))
    app.decorate('checkpoints', checkpoints)

    const sign = (): Promise<void> =>
      checkpoints.signHead().then(
        () => undefined,
        (error: unknown) => app.log.error({err: error}, 'audit: signing a checkpoint failed; retried at the next interval'),
      )
    let timer: NodeJS.Timeout | undefined
    app.addHook('onReady', async () => {
      await sign()
      timer = setInterval(() => void sign(), app.config.audit.checkpointIntervalSeconds * 1000)
      timer.unref()
    })
    app.addHook('onClose', async () => {
      if (timer) clearInterval(timer)
      await chain.flush()
    })
  },
  {name: 'tether-audit', dependencies: ['tether-db']},
)

/** Fields of an event the request already knows: who (unless given) and from where. */
export type RequestAuditInput = Omit<AuditInput, 'actorType' | 'actor'> & Partial<Pick<AuditInput, 'actorType' | 'actor'>>

/**
 * Appends an event on behalf of a request: the actor is the authenticated user unless given
 * (e.g. the username of a failed login), the source address is request.ip (which honours the
 * server's trustProxy setting). For an event that changes nothing else; a change uses auditedChange.
 */
export function auditRequest(request: FastifyRequest, input: RequestAuditInput): Promise<AuditEvent> {
  return request.server.audit.append(requestActor(request, input))
}

/**
 * A state change made on behalf of a request, and its audit events, in one transaction (see
 * AuditChain.transaction): `record` fills actor and source address like auditRequest.
 */
export function auditedChange<T>(request: FastifyRequest, work: (trx: Kysely<Database>, record: (input: RequestAuditInput) => void) => Promise<T>): Promise<T> {
  return request.server.audit.transaction((trx, record) => work(trx, (input) => record(requestActor(request, input))))
}

export function requestActor(request: FastifyRequest, input: RequestAuditInput): AuditInput {
  const principal = request.principal
  return {
    ...input,
    actorType: input.actorType ?? (principal ? 'user' : 'system'),
    actor: input.actor ?? principal?.username ?? 'anonymous',
    sourceIp: input.sourceIp === undefined ? request.ip : input.sourceIp,
  }
}
