import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import {IdParam} from '../../protocol/api/common.js'
import {CreateTokenRequest, CreateTokenResponse, TokenList, TokenListQuery} from '../../protocol/api/users.js'
import {ForbiddenError, NotFoundError} from '../../shared/errors.js'
import {createApiToken, listApiTokens, revokeApiToken} from '../auth/api-tokens.js'
import {principalOf} from '../auth/request-context.js'
import {auditedChange} from '../audit/plugin.js'
import {findUserByName} from '../users/store.js'

/**
 * API tokens: every user manages their own; users:manage also sees and revokes others'. Only
 * from an interactive login (requireSession): a token that could mint or revoke tokens could
 * outlive its own expiry and revocation, or cut its owner's other scripts off.
 */
export const tokensRoutes: FastifyPluginAsync = async (app) => {
  app.get('/tokens', {preHandler: app.requireSession, schema: {querystring: TokenListQuery, response: {200: TokenList}}}, async (request) => {
    const principal = principalOf(request)
    const {user} = request.query as z.infer<typeof TokenListQuery>
    if (user === undefined || user === principal.username) return {tokens: await listApiTokens(app.db, principal.userId, principal.username)}
    if (!principal.permissions.includes('users:manage')) throw new ForbiddenError('permission "users:manage" required to list the tokens of another user')
    const owner = await findUserByName(app.db, user)
    if (!owner) throw new NotFoundError(`no user "${user}"`)
    return {tokens: await listApiTokens(app.db, owner.id, owner.username)}
  })

  app.post('/tokens', {preHandler: app.requireSession, schema: {body: CreateTokenRequest, response: {201: CreateTokenResponse}}}, async (request, reply) => {
    const created = await auditedChange(request, async (trx, record) => {
      const created = await createApiToken(trx, principalOf(request), request.body as z.infer<typeof CreateTokenRequest>)
      const {id, name, permissions, expiresAt} = created.info
      record({action: 'token.create', outcome: 'success', details: {id, name, permissions, expiresAt}})
      return created
    })
    return reply.code(201).send(created)
  })

  app.delete('/tokens/:id', {preHandler: app.requireSession, schema: {params: IdParam}}, async (request, reply) => {
    const {id} = request.params as z.infer<typeof IdParam>
    await auditedChange(request, async (trx, record) => {
      const revoked = await revokeApiToken(trx, principalOf(request), id)
      record({action: 'token.revoke', outcome: 'success', details: {id, name: revoked.name, owner: revoked.username}})
    })
    return reply.code(204).send()
  })
}
