import {Readable} from 'node:stream'
import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import {IdParam, SerialParam} from '../../protocol/api/common.js'
import {DEFAULT_JOB_TTL_SECONDS, JobView} from '../../protocol/api/jobs.js'
import {BUNDLE_MEDIA_TYPES, CONTENT_SHA256_HEADER, LogBundleList, LogBundleQuery, LogBundleView, RequestLogsRequest} from '../../protocol/api/logs.js'
import {auditRequest} from '../audit/plugin.js'
import {principalOf} from '../auth/request-context.js'
import {jobView} from '../jobs/service.js'
import {bundleView, findBundle, listBundles, readBundle} from '../logs/bundles.js'
import {getDevice} from '../registry/service.js'

/** Log collections (jobs) and bundle listing/download; everything needs logs:pull and scope. */
export const logsRoutes: FastifyPluginAsync = async (app) => {
  const pull = app.requirePermission('logs:pull')

  app.post(
    '/devices/:serial/logs',
    {preHandler: pull, schema: {params: SerialParam, body: RequestLogsRequest, response: {202: JobView}}},
    async (request, reply) => {
      const {serial} = request.params as z.infer<typeof SerialParam>
      const body = request.body as RequestLogsRequest
      const principal = principalOf(request)
      const device = await getDevice(app.db, principal.scope, serial)
      const job = await app.jobs.create(device, {
        kind: 'logs',
        params: body.since ? {since: body.since} : {},
        requestedBy: principal.username,
        ttlSeconds: body.ttlSeconds ?? DEFAULT_JOB_TTL_SECONDS,
        sourceIp: request.ip,
      })
      return reply.code(202).send(jobView(job))
    },
  )

  app.get('/logs', {preHandler: pull, schema: {querystring: LogBundleQuery, response: {200: LogBundleList}}}, async (request) => ({
    bundles: (await listBundles(app.db, principalOf(request).scope, request.query as LogBundleQuery)).map(bundleView),
  }))

  app.get('/logs/:id', {preHandler: pull, schema: {params: IdParam, response: {200: LogBundleView}}}, async (request) => {
    const {id} = request.params as z.infer<typeof IdParam>
    return bundleView(await findBundle(app.db, principalOf(request).scope, id))
  })

  /**
   * The decrypted bundle (tar.zst or tar.gz, by its recorded format). The download is audited before the first byte. The header, the file
   * length and the first segment are verified before the response starts, so a truncated or
   * altered file is an error response, not a partial body; damage further in aborts the stream
   * before the altered segment (the client then lacks bytes and its SHA-256 check fails).
   */
  app.get('/logs/:id/content', {preHandler: pull, schema: {params: IdParam}}, async (request, reply) => {
    const {id} = request.params as z.infer<typeof IdParam>
    const bundle = await findBundle(app.db, principalOf(request).scope, id)
    const details = {bundleId: bundle.id, size: bundle.size, sha256: bundle.sha256, region: bundle.region}
    const segments = readBundle(app.logs.blobs, await app.logs.keyring(), bundle)
    let first: IteratorResult<Buffer>
    try {
      first = await segments.next()
    } catch (error) {
      await auditRequest(request, {action: 'logs.bundle.downloaded', outcome: 'failure', deviceSerial: bundle.serial, customerId: bundle.customer_id, details: {...details, error: (error as Error).message}})
      throw error
    }
    await auditRequest(request, {action: 'logs.bundle.downloaded', outcome: 'success', deviceSerial: bundle.serial, customerId: bundle.customer_id, details})
    const log = request.log
    async function* body(): AsyncGenerator<Buffer> {
      if (!first.done) yield first.value
      try {
        yield* segments
      } catch (error) {
        log.error({err: error, bundleId: bundle.id}, 'logs: bundle failed verification mid-stream; download aborted')
        throw error
      }
    }
    const {format} = bundleView(bundle)
    return reply
      .header('content-type', BUNDLE_MEDIA_TYPES[format])
      .header('content-length', String(bundle.size))
      .header(CONTENT_SHA256_HEADER, bundle.sha256)
      .header('content-disposition', `attachment; filename="${bundle.serial}-${bundle.id}.${format}"`)
      .send(Readable.from(body(), {objectMode: false, highWaterMark: 1}))
  })
}
