import type {FastifyPluginAsync, FastifyRequest} from 'fastify'
import type {z} from 'zod'
import {UserView} from '../../protocol/api/auth.js'
import {UsernameParam} from '../../protocol/api/common.js'
import {CreateUserRequest, CreateUserResponse, SetRoleRequest, SetScopeRequest, UserList} from '../../protocol/api/users.js'
import {ConflictError} from '../../shared/errors.js'
import {principalOf} from '../auth/request-context.js'
import {auditRequest} from '../audit/plugin.js'
import {scopeToView} from '../auth/scope.js'
import {createUser, getUser, listUsers, setDisabled, setRole, setScope, viewUser} from '../users/service.js'
import {toUserView} from '../users/store.js'

type UsernameParams = z.infer<typeof UsernameParam>

/** User administration; every route needs users:manage and every change is audited. */
export const usersRoutes: FastifyPluginAsync = async (app) => {
  const manage = app.requirePermission('users:manage')

  /** Admins cannot lock themselves out by disabling or demoting their own account. */
  function refuseSelf(request: FastifyRequest, username: string, what: string): void {
    if (principalOf(request).username === username) throw new ConflictError(`you cannot ${what} your own account; ask another admin`)
  }

  app.get('/users', {preHandler: manage, schema: {response: {200: UserList}}}, async () => ({users: await listUsers(app.db)}))

  app.post('/users', {preHandler: manage, schema: {body: CreateUserRequest, response: {201: CreateUserResponse}}}, async (request, reply) => {
    const body = request.body as z.infer<typeof CreateUserRequest>
    const {user, initialPassword} = await createUser(app.db, body)
    const view = await viewUser(app.db, user)
    await auditRequest(request, {
      action: 'user.create',
      outcome: 'success',
      details: {username: user.username, role: user.role, scope: view.scope, generatedPassword: initialPassword !== undefined},
    })
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
      const updated = await setDisabled(app.db, await getUser(app.db, username), disabled)
      await auditRequest(request, {action: `user.${path}`, outcome: 'success', details: {username, ...(disabled ? {credentialsRevoked: true} : {})}})
      return viewUser(app.db, updated)
    })
  }

  app.put('/users/:username/role', {preHandler: manage, schema: {params: UsernameParam, body: SetRoleRequest, response: {200: UserView}}}, async (request) => {
    const {username} = request.params as UsernameParams
    const {role} = request.body as z.infer<typeof SetRoleRequest>
    refuseSelf(request, username, 'change the role of')
    const user = await getUser(app.db, username)
    const updated = await setRole(app.db, user, role)
    await auditRequest(request, {action: 'user.role.set', outcome: 'success', details: {username, from: user.role, to: role}})
    return viewUser(app.db, updated)
  })

  app.put('/users/:username/scope', {preHandler: manage, schema: {params: UsernameParam, body: SetScopeRequest, response: {200: UserView}}}, async (request) => {
    const {username} = request.params as UsernameParams
    const user = await getUser(app.db, username)
    const before = await viewUser(app.db, user)
    const scope = await setScope(app.db, user, request.body as z.infer<typeof SetScopeRequest>)
    await auditRequest(request, {action: 'user.scope.set', outcome: 'success', details: {username, from: before.scope, to: scopeToView(scope)}})
    return toUserView(await getUser(app.db, username), scope)
  })
}
