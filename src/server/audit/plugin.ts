import type {FastifyRequest} from 'fastify'
import fp from 'fastify-plugin'
import {AuditChain} from './chain.js'
import type {AuditEvent, AuditInput} from './types.js'
import './types.js'

/**
 * app.audit: the hash-chained audit log on the server's database. Queued appends are
 * written before the database closes (onClose hooks run in reverse registration order).
 */
export const auditPlugin = fp(
  async (app) => {
    const chain = new AuditChain(app.db, app.dbDialect)
    app.decorate('audit', chain)
    app.addHook('onClose', async () => chain.flush())
  },
  {name: 'tether-audit', dependencies: ['tether-db']},
)

/** Fields of an event the request already knows: who (unless given) and from where. */
export type RequestAuditInput = Omit<AuditInput, 'actorType' | 'actor'> & Partial<Pick<AuditInput, 'actorType' | 'actor'>>

/**
 * Appends an event on behalf of a request: the actor is the authenticated user unless given
 * (e.g. the username of a failed login), the source address is request.ip (which honours the
 * server's trustProxy setting).
 */
export function auditRequest(request: FastifyRequest, input: RequestAuditInput): Promise<AuditEvent> {
  return request.server.audit.append(requestActor(request, input))
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
