import {Readable} from 'node:stream'
import type {FastifyInstance} from 'fastify'
import type {BeginPublishRequest} from '../../../src/protocol/api/updates.js'
import type {Audited} from '../../../src/server/updates/publish.js'

export type AuditedWork = Audited

/** The three publish steps on the service, for tests whose subject is what comes after a publish. */
export async function publishDirect(app: FastifyInstance, user: string, body: BeginPublishRequest, packages: Record<string, Buffer>, audited: Audited) {
  const plan = await app.updates.publisher.begin(user, body)
  for (const p of plan.packages) if (!p.present) await app.updates.publisher.receive(user, plan.publishId, p.path, Readable.from([packages[p.path]]))
  return app.updates.publisher.commit(user, plan.publishId, audited)
}
