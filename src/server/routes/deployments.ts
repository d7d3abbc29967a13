import type {FastifyPluginAsync, FastifyRequest} from 'fastify'
import type {z} from 'zod'
import {IdParam} from '../../protocol/api/common.js'
import {CreateDeploymentRequest, DeploymentDetail, DeploymentList, DeploymentQuery} from '../../protocol/api/deployments.js'
import {principalOf} from '../auth/request-context.js'
import type {Requester} from '../rollouts/service.js'

function requester(request: FastifyRequest): Requester {
  const principal = principalOf(request)
  return {username: principal.username, scope: principal.scope, sourceIp: request.ip}
}

/** Deployments (staged rollouts): changes need updates:deploy, reading devices:read; all scope-filtered, 404 out of scope. */
export const deploymentsRoutes: FastifyPluginAsync = async (app) => {
  const read = app.requirePermission('devices:read')
  const deploy = app.requirePermission('updates:deploy')

  app.post('/deployments', {preHandler: deploy, schema: {body: CreateDeploymentRequest, response: {201: DeploymentDetail}}}, async (request, reply) => {
    const detail = await app.deployments.create(requester(request), request.body as CreateDeploymentRequest)
    return reply.code(201).send(detail)
  })

  app.get('/deployments', {preHandler: read, schema: {querystring: DeploymentQuery, response: {200: DeploymentList}}}, async (request) => ({
    deployments: await app.deployments.list(principalOf(request).scope, request.query as DeploymentQuery),
  }))

  app.get('/deployments/:id', {preHandler: read, schema: {params: IdParam, response: {200: DeploymentDetail}}}, async (request) => {
    const {id} = request.params as z.infer<typeof IdParam>
    return app.deployments.get(principalOf(request).scope, id)
  })

  const moves = {pause: 'pause', resume: 'resume', abort: 'abort'} as const
  for (const move of Object.values(moves)) {
    app.post(`/deployments/:id/${move}`, {preHandler: deploy, schema: {params: IdParam, response: {200: DeploymentDetail}}}, async (request) => {
      const {id} = request.params as z.infer<typeof IdParam>
      return app.deployments[move](requester(request), id)
    })
  }
}
