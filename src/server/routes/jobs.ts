import type {FastifyPluginAsync, FastifyReply, FastifyRequest} from 'fastify'
import type {z} from 'zod'
import {IdParam} from '../../protocol/api/common.js'
import {JobList, JobQuery, JobView} from '../../protocol/api/jobs.js'
import {principalOf} from '../auth/request-context.js'
import {SERVER_JOB_KINDS} from '../jobs/kinds.js'
import {jobView} from '../jobs/service.js'

/** Cancelling a job needs the permission that could have started it (and devices:read to see it). */
const CANCEL_NEEDS = Object.fromEntries(Object.entries(SERVER_JOB_KINDS).map(([kind, k]) => [kind, k.permission]))

/** Job listing and cancellation (scope-filtered; out of scope is 404). */
export const jobsRoutes: FastifyPluginAsync = async (app) => {
  const read = app.requirePermission('devices:read')

  app.get('/jobs', {preHandler: read, schema: {querystring: JobQuery, response: {200: JobList}}}, async (request) => ({
    jobs: (await app.jobs.list(principalOf(request).scope, request.query as JobQuery)).map(jobView),
  }))

  app.get('/jobs/:id', {preHandler: read, schema: {params: IdParam, response: {200: JobView}}}, async (request) => {
    const {id} = request.params as z.infer<typeof IdParam>
    return jobView(await app.jobs.get(principalOf(request).scope, id))
  })

  app.post('/jobs/:id/cancel', {preHandler: app.requirePermission('devices:read', CANCEL_NEEDS), schema: {params: IdParam, response: {200: JobView}}}, async (request, reply) => {
    const {id} = request.params as z.infer<typeof IdParam>
    const principal = principalOf(request)
    const job = await app.jobs.get(principal.scope, id)
    await guard(app.requirePermission(SERVER_JOB_KINDS[job.kind].permission), request, reply)
    return jobView(await app.jobs.cancel(job, principal.username, request.ip))
  })
}

async function guard(hook: ReturnType<FastifyRequest['server']['requirePermission']>, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await (hook as unknown as (request: FastifyRequest, reply: FastifyReply) => Promise<void>)(request, reply)
}
