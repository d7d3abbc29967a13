import type {FastifyPluginAsync, FastifyRequest} from 'fastify'
import type {z} from 'zod'
import {UserView} from '../../protocol/api/auth.js'
import {UsernameParam} from '../../protocol/api/common.js'
import {CreateUserRequest, CreateUserResponse, ResetPasswordRequest, ResetPasswordResponse, SetRoleRequest, SetScopeRequest, UserList} from '../../protocol/api/users.js'
import {ConflictError} from '../../shared/errors.js'
import {principalOf} from '../auth/request-context.js'
import {auditedChange} from '../audit/plugin.js'
import {scopeToView} from '../auth/scope.js'
import {assertLocalPassword, getUser, insertUser, listUsers, preparePassword, prepareUser, setDisabled, setPassword, setRole, setScope, viewUser} from '../users/service.js'
import {toUserView} from '../users/store.js'

type UsernameParams = z.infer<typeof UsernameParam>

/** User administration; every route needs users:manage, and every change commits with its audit event. */
export const usersRoutes: FastifyPluginAsync = async (app) => {
  const manage = app.requirePermission('users:manage')

  /** Admins cannot lock themselves out by disabling or demoting their own account. */
  function refuseSelf(request: FastifyRequest, username: string, what: string): void {
    if (principalOf(request).username === username) throw new ConflictError(`you cannot ${what} your own account; ask another admin`)
  }

  app.get('/users', {preHandler: manage, schema: {response: {200: UserList}}}, async () => ({users: await listUsers(app.db)}))

  app.post('/users', {preHandler: manage, schema: {body: CreateUserRequest, response: {201: CreateUserResponse}}}, async (request, reply) => {
    const prepared = await prepareUser(request.body as z.infer<typeof CreateUserRequest>)
    const view = await auditedChange(request, async (trx, record) => {
      const user = await insertUser(trx, prepared)
      const view = await viewUser(trx, user)
      record({action: 'user.create', outcome: 'success', details: {username: user.username, role: user.role, scope: view.scope, generatedPassword: prepared.initialPassword !== undefined}})
      return view
    })
    const {initialPassword} = prepared
    return reply.code(201).send(initialPassword === undefined ? {user: view} : {user: view, initialPassword})
  })

  app.get('/users/:username', {preHandler: manage, schema: {params: UsernameParam, response: {200: UserView}}}, async (request) => {
    const {username} = request.params as UsernameParams
    return viewUser(app.db, await getUser(app.db, username))
  })

  for (const [path, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    app.post(`/users/:username/${path}`, {preHandler: manage, schema: {params: UsernameParam, response: {200: UserView}}}, async (request) => {
      const {username} = request.params as UsernameParams
      if (disabled) refuseSelf(request, username, 'disable')
      return auditedChange(request, async (trx, record) => {
        const updated = await setDisabled(trx, await getUser(trx, username), disabled)
        record({action: `user.${path}`, outcome: 'success', details: {username, ...(disabled ? {credentialsRevoked: true} : {})}})
        return viewUser(trx, updated)
      })
    })
  }

  // Session only: a token with users:manage must not be able to take over any account by its password.
  app.post(
    '/users/:username/password',
    {preHandler: app.requireSessionPermission('users:manage'), schema: {params: UsernameParam, body: ResetPasswordRequest, response: {200: ResetPasswordResponse}}},
    async (request) => {
      const {username} = request.params as UsernameParams
      const {password} = request.body as z.infer<typeof ResetPasswordRequest>
      const target = await getUser(app.db, username)
      await assertLocalPassword(app.db, target)
      // Hashed before the transaction: scrypt must not hold the database.
      const {passwordHash, generated} = await preparePassword(password, 'body.password', username)
      const user = await auditedChange(request, async (trx, record) => {
        const user = await getUser(trx, username)
        const sessionsEnded = await setPassword(trx, user, passwordHash)
        record({action: 'user.password.reset', outcome: 'success', details: {username, generatedPassword: generated !== undefined, sessionsEnded}})
        return viewUser(trx, user)
      })
      return generated === undefined ? {user} : {user, generatedPassword: generated}
    },
  )

  app.put('/users/:username/role', {preHandler: manage, schema: {params: UsernameParam, body: SetRoleRequest, response: {200: UserView}}}, async (request) => {
    const {username} = request.params as UsernameParams
    const {role} = request.body as z.infer<typeof SetRoleRequest>
    refuseSelf(request, username, 'change the role of')
    return auditedChange(request, async (trx, record) => {
      const user = await getUser(trx, username)
      const updated = await setRole(trx, user, role)
      record({action: 'user.role.set', outcome: 'success', details: {username, from: user.role, to: role}})
      return viewUser(trx, updated)
    })
  })

  app.put('/users/:username/scope', {preHandler: manage, schema: {params: UsernameParam, body: SetScopeRequest, response: {200: UserView}}}, async (request) => {
    const {username} = request.params as UsernameParams
    return auditedChange(request, async (trx, record) => {
      const user = await getUser(trx, username)
      const before = await viewUser(trx, user)
      const scope = await setScope(trx, user, request.body as z.infer<typeof SetScopeRequest>)
      record({action: 'user.scope.set', outcome: 'success', details: {username, from: before.scope, to: scopeToView(scope)}})
      return toUserView(await getUser(trx, username), scope)
    })
  })
}
