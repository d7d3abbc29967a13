import type {FastifyPluginAsync} from 'fastify'
import {z} from 'zod'
import {API_PREFIX} from '../../protocol/api/common.js'
import {AGENT_UPDATES_METADATA_PATH, AGENT_UPDATES_TARGETS_PATH} from '../../protocol/updates/index.js'
import {NotFoundError} from '../../shared/errors.js'
import {requireDevice} from '../auth/device-cert.js'
import {latestMetadata, metadataVersion, type StoredMetadata} from '../updates/metadata-store.js'
import {parseRange} from '../updates/range.js'
import {findTargetByPath} from '../updates/targets.js'

const MetadataParams = z.strictObject({file: z.string().min(1).max(64)})
const TargetParams = z.strictObject({'*': z.string().min(1).max(256)})
const ROLE_FILE = /^(?:(\d{1,9})\.root|(root|timestamp|snapshot|targets))\.json$/

/**
 * The TUF repository as devices read it, over HTTPS with the device certificate (like log uploads),
 * in the layout tuf-js expects with consistent_snapshot false: `<N>.root.json`, `timestamp.json`,
 * `snapshot.json`, `targets.json`, and `targets/<path>`. Nothing here is trusted by the device
 * because of where it came from: every byte is checked against the signed metadata.
 */
export const agentUpdatesRoutes: FastifyPluginAsync = async (app) => {
  app.decorateRequest('device', null)
  const metadataPath = AGENT_UPDATES_METADATA_PATH.slice(API_PREFIX.length)
  const targetsPath = AGENT_UPDATES_TARGETS_PATH.slice(API_PREFIX.length)

  app.get(`${metadataPath}/:file`, {preHandler: requireDevice, schema: {params: MetadataParams}}, async (request, reply) => {
    const {file} = request.params as z.infer<typeof MetadataParams>
    const match = ROLE_FILE.exec(file)
    if (!match) throw new NotFoundError(`no metadata ${file}: the repository serves <N>.root.json, root.json, timestamp.json, snapshot.json and targets.json`)
    let found: StoredMetadata | undefined
    if (match[1] === undefined) found = await latestMetadata(app.db, match[2] as 'root' | 'timestamp' | 'snapshot' | 'targets')
    else found = await metadataVersion(app.db, 'root', Number(match[1]))
    if (!found) throw new NotFoundError(`no ${file} published`)
    // timestamp.json changes under the same name: never from a cache.
    return reply.header('content-type', 'application/json').header('cache-control', 'no-store').send(found.bytes)
  })

  app.get(`${targetsPath}/*`, {preHandler: requireDevice, schema: {params: TargetParams}}, async (request, reply) => {
    const path = (request.params as z.infer<typeof TargetParams>)['*']
    const target = await findTargetByPath(app.db, path)
    if (!target) throw new NotFoundError(`no published target ${path}`)
    const {packages} = app.updates
    const stored = await packages.stat(target.blob)
    // A published row without its bytes is the server's fault (a lost blob): a 500 that is logged.
    if (!stored) throw new Error(`the bytes of published target ${path} (${target.blob}) are missing from blob storage`)
    const {size} = stored
    const range = parseRange(request.headers.range, size)
    reply.header('accept-ranges', 'bytes').header('content-type', 'application/octet-stream')
    if (range === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${size}`).send()
    if (!range) return reply.header('content-length', String(size)).send(packages.read(target.blob))
    return reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
      .header('content-length', String(range.end - range.start + 1))
      .send(packages.read(target.blob, range))
  })
}
