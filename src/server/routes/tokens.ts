import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import {IdParam} from '../../protocol/api/common.js'
import {CreateTokenRequest, CreateTokenResponse, TokenList, TokenListQuery} from '../../protocol/api/users.js'
import {ForbiddenError, NotFoundError} from '../../shared/errors.js'
import {createApiToken, listApiTokens, revokeApiToken} from '../auth/api-tokens.js'
import {principalOf} from '../auth/request-context.js'
import {auditRequest} from '../audit/plugin.js'
import {findUserByName} from '../users/store.js'

/** API tokens: every user manages their own; users:manage also sees and revokes others'. */
export const tokensRoutes: FastifyPluginAsync = async (app) => {
  app.get('/tokens', {preHandler: app.requireAuth, schema: {querystring: TokenListQuery, response: {200: TokenList}}}, async (request) => {
    const principal = principalOf(request)
    const {user} = request.query as z.infer<typeof TokenListQuery>
    if (user === undefined || user === principal.username) return {tokens: await listApiTokens(app.db, principal.userId, principal.username)}
    if (!principal.permissions.includes('users:manage')) throw new ForbiddenError('permission "users:manage" required to list the tokens of another user')
    const owner = await findUserByName(app.db, user)
    if (!owner) throw new NotFoundError(`no user "${user}"`)
    return {tokens: await listApiTokens(app.db, owner.id, owner.username)}
  })

  app.post('/tokens', {preHandler: app.requireAuth, schema: {body: CreateTokenRequest, response: {201: CreateTokenResponse}}}, async (request, reply) => {
    const principal = principalOf(request)
    // A token minting tokens could outlive its own expiry and revocation: a login is required.
    if (principal.auth === 'api-token') throw new ForbiddenError('API tokens cannot create tokens; log in to create one')
    const created = await createApiToken(app.db, principal, request.body as z.infer<typeof CreateTokenRequest>)
    await auditRequest(request, {
      action: 'token.create',
      outcome: 'success',
      details: {id: created.info.id, name: created.info.name, permissions: created.info.permissions, expiresAt: created.info.expiresAt},
    })
    return reply.code(201).send(created)
  })

  app.delete('/tokens/:id', {preHandler: app.requireAuth, schema: {params: IdParam}}, async (request, reply) => {
    const {id} = request.params as z.infer<typeof IdParam>
    const revoked = await revokeApiToken(app.db, principalOf(request), id)
    await auditRequest(request, {action: 'token.revoke', outcome: 'success', details: {id, name: revoked.name, owner: revoked.username}})
    return reply.code(204).send()
  })
}
