import type {Readable} from 'node:stream'
import type {FastifyPluginAsync} from 'fastify'
import type {z} from 'zod'
import {CreateUploadRequest, MAX_UPLOAD_CHUNK_BYTES, UploadChunkQuery, UploadState} from '../../protocol/agent/jobs.js'
import {IdParam} from '../../protocol/api/common.js'
import {ConflictError, NotFoundError, UsageError} from '../../shared/errors.js'
import {requireDevice} from '../auth/device-cert.js'
import type {CompletionListener} from '../logs/upload-store.js'

/**
 * Log bundle uploads from agents (docs/logs.md), authenticated by the device certificate like
 * the control channel. Chunks are not buffered: the octet-stream body is handed over as the raw
 * request stream and sealed segment by segment as it arrives (src/server/logs/upload-store.ts).
 */
export const uploadsRoutes: FastifyPluginAsync = async (app) => {
  app.decorateRequest('device', null)
  // Raw stream, no buffering; the store bounds the bytes by the declared size.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload))
  const device = (request: {device: {serial: string; customerId: string} | null}) => {
    if (!request.device) throw new NotFoundError('no device on this request')
    return request.device
  }

  const onComplete: CompletionListener = (upload, markComplete) =>
    app.audit.transaction(async (trx, record) => {
      await markComplete(trx)
      record({
        actorType: 'device',
        actor: upload.serial,
        action: 'logs.bundle.stored',
        outcome: 'success',
        deviceSerial: upload.serial,
        customerId: upload.customer_id,
        details: {bundleId: upload.id, size: upload.size, sha256: upload.sha256, format: upload.format, region: upload.region, initiator: upload.initiator, jobId: upload.job_id},
      })
    })

  app.post('/agent/uploads', {preHandler: requireDevice, schema: {body: CreateUploadRequest, response: {201: UploadState}}}, async (request, reply) => {
    const owner = device(request)
    const body = request.body as CreateUploadRequest
    let initiator: 'user' | 'device' = 'device'
    let requestedBy: string | null = null
    let since = body.since
    if (body.jobId) {
      const job = await app.db.selectFrom('jobs').selectAll().where('id', '=', body.jobId).executeTakeFirst()
      if (!job || job.serial !== owner.serial || job.kind !== 'logs') throw new NotFoundError(`no logs job ${body.jobId} for this device`)
      if (['cancelled', 'expired', 'refused', 'failed', 'succeeded'].includes(job.status)) throw new ConflictError(`job ${job.id} is ${job.status}`, {code: 'JOB_FINAL'})
      initiator = 'user'
      requestedBy = job.requested_by
      since ??= (JSON.parse(job.params) as {since?: string}).since
    } else {
      await app.audit.append({
        actorType: 'device',
        actor: owner.serial,
        action: 'logs.collection.started',
        outcome: 'success',
        deviceSerial: owner.serial,
        customerId: owner.customerId,
        details: {initiator: 'device', size: body.size ?? null, format: body.format ?? 'tar.gz', since: since ?? null},
      })
    }
    const state = await app.logs.uploads.create(owner, {...body, ...(since ? {since} : {}), initiator, requestedBy})
    return reply.code(201).send(state)
  })

  app.get('/agent/uploads/:id', {preHandler: requireDevice, schema: {params: IdParam, response: {200: UploadState}}}, async (request) => {
    const {id} = request.params as z.infer<typeof IdParam>
    return app.logs.uploads.get(device(request), id)
  })

  app.put(
    '/agent/uploads/:id',
    {preHandler: requireDevice, bodyLimit: MAX_UPLOAD_CHUNK_BYTES, schema: {params: IdParam, querystring: UploadChunkQuery, response: {200: UploadState}}},
    async (request) => {
      const {id} = request.params as z.infer<typeof IdParam>
      const {offset, final, size, sha256} = request.query as z.infer<typeof UploadChunkQuery>
      if ((final !== undefined || size !== undefined || sha256 !== undefined) && (final === undefined || size === undefined || sha256 === undefined)) {
        throw new UsageError('a final chunk carries final=1, size and sha256 together', {details: {field: final === undefined ? 'final' : size === undefined ? 'size' : 'sha256'}})
      }
      // Absent for a chunked body: then the store notices the excess as the bytes arrive.
      const length = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length'])
      return app.logs.uploads.write(device(request), id, offset, request.body as Readable, onComplete, length, final && size !== undefined && sha256 !== undefined ? {size, sha256} : undefined)
    },
  )
}
