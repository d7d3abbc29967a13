import type {FastifyPluginAsync, FastifyRequest} from 'fastify'
import type {z} from 'zod'
import {
  AuditExportQuery,
  AuditList,
  AuditListQuery,
  AuditReport,
  AuditReportQuery,
  type AuditEventView,
  AuditVerifyRequest,
  AuditVerifyResponse,
  CheckpointResponse,
} from '../../protocol/api/audit.js'
import {Empty} from '../../protocol/api/common.js'
import {ForbiddenError, UsageError} from '../../shared/errors.js'
import {EXPORT_CONTENT_TYPES, listEvents, startExport} from '../audit/export.js'
import {auditRequest, requestActor} from '../audit/plugin.js'
import {type AuditFilter, type AuditQueryInput, normalizeFilter} from '../audit/query.js'
import type {AuditStore} from '../audit/tables.js'
import type {AuditEvent} from '../audit/types.js'
import {buildAccessReport} from '../audit/report.js'
import {verifyWithAnchors} from '../audit/verify-anchored.js'
import {RequestValidationError} from '../http/zod-compilers.js'

const DEFAULT_LIMIT = 100

/** /audit: list, export (streamed, itself audited), verify and checkpoints. All need audit:read. */
export const auditRoutes: FastifyPluginAsync = async (app) => {
  // Before validation: an unauthenticated caller learns nothing from a 400 about the query.
  const canRead = app.requirePermission('audit:read')
  const store: AuditStore = {db: app.db, dialect: app.dbDialect}

  app.get<{Querystring: z.infer<typeof AuditListQuery>}>(
    '/audit/events',
    {preValidation: canRead, schema: {querystring: AuditListQuery, response: {200: AuditList}}},
    async (request) => {
      const {after, limit, ...query} = request.query
      const page = await listEvents(store, filterOf(request, query), after ?? 0, limit ?? DEFAULT_LIMIT)
      return {events: page.events.map((e) => toView(e)), next: page.next}
    },
  )

  app.get<{Querystring: z.infer<typeof AuditExportQuery>}>(
    '/audit/export',
    {preValidation: canRead, schema: {querystring: AuditExportQuery}},
    async (request, reply) => {
      const {format, ...query} = request.query
      const filter = filterOf(request, query)
      const started = await startExport(store, app.audit, filter, format, requestActor(request, {action: 'audit.export', outcome: 'success'}))
      const stamp = new Date().toISOString().replaceAll(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
      return reply
        .header('content-type', EXPORT_CONTENT_TYPES[format])
        .header('content-disposition', `attachment; filename="tether-audit-${stamp}.${format}"`)
        .header('x-audit-count', String(started.count))
        .header('x-audit-up-to', String(started.upTo))
        .header('x-audit-head-hash', started.upToHash)
        .send(started.stream)
    },
  )

  app.post(
    '/audit/verify',
    {preValidation: canRead, schema: {body: AuditVerifyRequest.nullish(), response: {200: AuditVerifyResponse}}},
    async (request) => {
      // The chain spans every customer: a scoped user could learn of events outside the scope.
      if (!request.principal?.scope.all) throw new ForbiddenError('verifying the audit chain needs an unscoped (all customers) user')
      const body = (request.body ?? {}) as AuditVerifyRequest
      const result = await verifyWithAnchors(store, app.checkpoints, body.checkpoints ?? [])
      await auditRequest(request, {
        action: 'audit.verify',
        outcome: result.ok ? 'success' : 'failure',
        details: {checked: result.checked, problems: result.problems.length, headSeq: result.head.seq, headHash: result.head.hash, checkpoints: result.checkpoints.length},
      })
      return result
    },
  )

  // The access review reads the trail like an export does, so it is audited like one.
  app.get<{Querystring: AuditReportQuery}>('/audit/report', {preValidation: canRead, schema: {querystring: AuditReportQuery, response: {200: AuditReport}}}, async (request) => {
    const {customer, ...times} = request.query
    const filter = filterOf(request, {...times, until: times.until ?? new Date().toISOString()})
    const disabled = await app.db.selectFrom('users').select('username').where('disabled_at', 'is not', null).execute()
    const report = await buildAccessReport(store, {filter: filter as AuditFilter & {since: string; until: string}, customer, disabledUsers: new Set(disabled.map((u) => u.username))})
    await auditRequest(request, {action: 'audit.report', outcome: 'success', details: {since: report.since, until: report.until, customer: customer ?? null, accesses: report.totals.accesses, flagged: report.totals.flagged, upTo: report.upTo}})
    return report
  })

  app.get('/audit/checkpoint', {preValidation: canRead, schema: {response: {200: CheckpointResponse}}}, async () => ({
    checkpoint: await app.checkpoints.latest(),
    publicKey: app.checkpoints.publicKey,
  }))

  // Signing on demand changes nothing but the record of checkpoints; not an audited action.
  app.post('/audit/checkpoint', {preValidation: canRead, schema: {body: Empty.nullish(), response: {200: CheckpointResponse}}}, async () => ({
    checkpoint: await app.checkpoints.signHead(),
    publicKey: app.checkpoints.publicKey,
  }))
}

function filterOf(request: FastifyRequest, query: AuditQueryInput): AuditFilter {
  try {
    return normalizeFilter(query, request.principal?.scope)
  } catch (error) {
    const field = error instanceof UsageError ? error.details?.field : undefined
    if (typeof field === 'string') throw new RequestValidationError(error instanceof Error ? error.message : String(error), `querystring.${field}`)
    throw error
  }
}

export function toView(e: AuditEvent): AuditEventView {
  return {
    seq: e.seq,
    id: e.id,
    time: e.time,
    actorType: e.actorType,
    actor: e.actor,
    action: e.action,
    deviceSerial: e.deviceSerial,
    customer: e.customerId,
    outcome: e.outcome,
    sourceIp: e.sourceIp,
    details: e.details,
    prevHash: e.prevHash,
    hash: e.hash,
  }
}
