import type {Readable} from 'node:stream'
import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import {BeginPublishRequest, MAX_PACKAGE_BYTES, MAX_PUBLISH_METADATA_BYTES, PackageParams, PackageReceived, PublishIdParam, PublishPlan, PublishResult, UpdateTargetList} from '../../protocol/api/updates.js'
import {OnlinePublicKeys} from '../../protocol/updates/index.js'
import {auditedChange} from '../audit/plugin.js'
import {principalOf} from '../auth/request-context.js'
import type {Audited} from '../updates/publish.js'

/**
 * Publishing software updates (docs/updates.md, "On the server"): updates:publish for the publish
 * steps and the online keys, updates:deploy to list what is published. The protocol file
 * (src/protocol/api/updates.ts) describes the three publish steps.
 */
export const updatesRoutes: FastifyPluginAsync = async (app) => {
  const publish = app.requirePermission('updates:publish')
  const deploy = app.requirePermission('updates:deploy')
  // Package bodies stream to disk as they arrive (src/server/updates/package-store.ts).
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload))

  app.get('/updates/online-keys', {preHandler: publish, schema: {response: {200: OnlinePublicKeys}}}, async () => app.updates.onlinePublicKeys())

  app.get('/updates/targets', {preHandler: deploy, schema: {response: {200: UpdateTargetList}}}, async () => app.updates.listTargets())

  app.post('/updates/publishes', {preHandler: publish, bodyLimit: MAX_PUBLISH_METADATA_BYTES, schema: {body: BeginPublishRequest, response: {201: PublishPlan}}}, async (request, reply) => {
    const plan = await app.updates.publisher.begin(principalOf(request).username, request.body as BeginPublishRequest)
    return reply.code(201).send(plan)
  })

  app.put('/updates/publishes/:id/packages/*', {preHandler: publish, bodyLimit: MAX_PACKAGE_BYTES, schema: {params: PackageParams, response: {200: PackageReceived}}}, async (request) => {
    const params = request.params as z.infer<typeof PackageParams>
    return app.updates.publisher.receive(principalOf(request).username, params.id, params['*'], request.body as Readable)
  })

  app.post('/updates/publishes/:id/commit', {preHandler: publish, schema: {params: PublishIdParam, response: {200: PublishResult}}}, async (request) => {
    const {id} = request.params as z.infer<typeof PublishIdParam>
    const audited: Audited = (work) => auditedChange(request, (trx, record) => work(trx, (input) => record(input)))
    return app.updates.publisher.commit(principalOf(request).username, id, audited)
  })
}
