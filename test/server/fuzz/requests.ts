import {strict as assert} from 'node:assert'
import fc from 'fast-check'
import type {LightMyRequestResponse} from 'fastify'
import type {ZodType} from 'zod'
import type {CatalogRoute} from '../../../src/server/http/route-catalog.js'
import {BAD_ESCAPES, RAW_NUMBERS, assertCleanText, assertNoInternals, hostileJsonText, hostileString, hostileValue, percentEncode, withRawNumber} from '../../helpers/hostile.js'
import {fromSchema, rarely} from '../../helpers/zod-arbitrary.js'

/**
 * Requests for one route of app.routeCatalog, built from the route's own zod schemas (params,
 * querystring, body), and the check every answer must pass. A request is plain data (method, url,
 * headers, payload) so that fast-check prints a counterexample that can be pasted as is into a
 * test's regression list.
 */
export interface FuzzRequest {
  method: string
  url: string
  headers: Record<string, string>
  payload?: string | Buffer
}

/** admin: a valid unscoped admin session; none: no Authorization; garbage: a bearer that is no token. */
export type AuthMode = 'admin' | 'none' | 'garbage'

export interface RequestContext {
  adminToken: string
  /** Ids of rows that exist (customer, site, device, user, job), so some requests reach the handler's depths. */
  known: readonly string[]
}

interface RouteSchemas {
  params?: ZodType
  querystring?: ZodType
  body?: ZodType
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const ODD_CONTENT_TYPES = ['text/plain', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/json;;']

const json = (value: unknown): string | undefined => (value === undefined ? undefined : JSON.stringify(value))

export function requestFor(route: CatalogRoute, auth: AuthMode, ctx: RequestContext): fc.Arbitrary<FuzzRequest> {
  const schemas = (route.schema ?? {}) as RouteSchemas
  const paramNames = [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1])
  const paramShape = (schemas.params as unknown as {shape?: Record<string, ZodType>} | undefined)?.shape ?? {}
  const segments = fc.tuple(...paramNames.map((name) => segmentFor(paramShape[name], ctx)))
  const query = schemas.querystring ? queryFor(schemas.querystring, ctx) : rarely(queryText(hostileValue)).map((q) => q ?? '')
  const body = BODY_METHODS.has(route.method) ? bodyFor(schemas.body, ctx) : fc.constant({payload: undefined, contentType: undefined})
  return fc.tuple(segments, query, body, authHeader(auth, ctx)).map(([values, q, b, authorization]) => {
    let i = 0
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, () => values[i++])
    const headers: Record<string, string> = {}
    if (authorization !== undefined) headers.authorization = authorization
    if (b.contentType !== undefined) headers['content-type'] = b.contentType
    return {method: route.method, url: q === '' ? path : `${path}?${q}`, headers, ...(b.payload === undefined ? {} : {payload: b.payload})}
  })
}

function segmentFor(schema: ZodType | undefined, ctx: RequestContext): fc.Arbitrary<string> {
  const valid = schema ? fromSchema(schema, {known: ctx.known}) : hostileValue
  return fc.oneof({weight: 4, arbitrary: valid.map((v) => percentEncode(typeof v === 'string' ? v : JSON.stringify(v) ?? ''))}, {weight: 1, arbitrary: fc.constantFrom(...BAD_ESCAPES)})
}

/** A query string: the schema's fields %-escaped, plus now and then a pair with bad escapes. */
function queryFor(schema: ZodType, ctx: RequestContext): fc.Arbitrary<string> {
  return fc.tuple(queryText(fromSchema(schema, {known: ctx.known})), rarely(fc.tuple(fc.constantFrom(...BAD_ESCAPES), fc.constantFrom(...BAD_ESCAPES)))).map(([q, bad]) => {
    if (bad === null) return q
    return [q, `${bad[0]}=${bad[1]}`].filter((p) => p !== '').join('&')
  })
}

function queryText(values: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return values.map((v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v === undefined ? '' : percentEncode(String(v))
    const pairs: string[] = []
    for (const [k, value] of Object.entries(v)) {
      if (value === undefined) continue
      // An array becomes a repeated key, as a browser or curl would send it.
      for (const item of Array.isArray(value) ? value : [value]) {
        pairs.push(`${percentEncode(k)}=${percentEncode(typeof item === 'string' ? item : (JSON.stringify(item) ?? ''))}`)
      }
    }
    return pairs.join('&')
  })
}

function bodyFor(schema: ZodType | undefined, ctx: RequestContext): fc.Arbitrary<{payload: string | Buffer | undefined; contentType: string | undefined}> {
  const jsonBody = (payload: fc.Arbitrary<string | Buffer | undefined>) => payload.map((p) => ({payload: p, contentType: p === undefined ? undefined : 'application/json'}))
  const hostile = fc.oneof(hostileValue.map(json), hostileJsonText, fc.uint8Array({maxLength: 16}).map((b) => Buffer.from(b)))
  const oddType = fc.tuple(fc.oneof(hostileValue.map((v) => json(v) ?? ''), hostileString), fc.constantFrom(...ODD_CONTENT_TYPES)).map(([p, t]) => ({payload: p, contentType: t}))
  if (!schema) return fc.oneof({weight: 3, arbitrary: jsonBody(fc.constant(undefined))}, {weight: 1, arbitrary: jsonBody(hostile)})
  const shaped = fromSchema(schema, {known: ctx.known}).map(json)
  // A near-valid body whose first number is one JSON.stringify cannot write (1e400 parses to Infinity).
  const rawNumber = fc.tuple(shaped, fc.constantFrom(...RAW_NUMBERS)).map(([text, token]) => (text === undefined ? text : withRawNumber(text, token)))
  return fc.oneof({weight: 6, arbitrary: jsonBody(shaped)}, {weight: 1, arbitrary: jsonBody(rawNumber)}, {weight: 2, arbitrary: jsonBody(hostile)}, {weight: 1, arbitrary: oddType})
}

function authHeader(auth: AuthMode, ctx: RequestContext): fc.Arbitrary<string | undefined> {
  if (auth === 'admin') return fc.constant(`Bearer ${ctx.adminToken}`)
  if (auth === 'none') return fc.constant(undefined)
  // Printable ASCII only: a header with CR/LF or non-Latin-1 never gets past Node's HTTP parser.
  const printable = fc.string({unit: fc.integer({min: 0x20, max: 0x7e}).map((n) => String.fromCharCode(n)), maxLength: 60})
  return fc.oneof(
    fc.constantFrom('Bearer', 'Basic YWRtaW46YWRtaW4=', 'Bearer tth_x_y', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.', `Bearer ${'a'.repeat(5000)}`),
    printable.map((s) => `Bearer ${s}`),
    printable,
  )
}

/**
 * 5xx that say something true about the world rather than about a failure of the server: a
 * device that is not connected (the inject app has no agents) is the documented 503.
 */
const DOCUMENTED_5XX = new Set(['DEVICE_OFFLINE', 'DEVICE_BUSY', 'DEVICE_TIMEOUT'])

/** What every answer must be: a 2xx, or an error body of the documented shape; never internals. */
export function checkAnswer(route: CatalogRoute, auth: AuthMode, res: LightMyRequestResponse): void {
  const status = res.statusCode
  const where = `${status} ${res.body.slice(0, 300)}`
  const guarded = route.guard !== null
  if (status < 400) {
    assert.ok(status >= 200 && status < 300, `not a 2xx: ${where}`)
    assert.ok(auth === 'admin' || !guarded, `a guarded route answered ${status} without credentials`)
    return
  }
  assert.match(String(res.headers['content-type']), /^application\/json/, `error without JSON: ${where}`)
  const body = JSON.parse(res.body) as {error?: Record<string, unknown>}
  assert.deepEqual(Object.keys(body), ['error'], `not {"error": …}: ${where}`)
  const error = body.error ?? {}
  assert.ok(Object.keys(error).every((k) => ['code', 'message', 'field'].includes(k)), `unexpected error fields: ${where}`)
  assert.ok(typeof error.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(error.code), `bad error.code: ${where}`)
  assert.ok(typeof error.message === 'string' && error.message.length > 0, `bad error.message: ${where}`)
  assertCleanText(error.message, 'error.message')
  assertNoInternals(res.body, 'the error body')
  if (error.field !== undefined) {
    assert.ok(typeof error.field === 'string', `bad error.field: ${where}`)
    assertCleanText(error.field, 'error.field')
  }
  if (status >= 500) assert.ok(DOCUMENTED_5XX.has(error.code), `a 5xx: ${where}`)
  if (auth !== 'admin' && guarded) {
    // 401; or what fastify finds before a preHandler guard runs: a body it cannot parse (400, 413,
    // 415) or that fails validation (400); or a 404 for a path no route has.
    const beforeGuard = [400, 413, 415].includes(status) && (error.code === 'USAGE' || error.code === 'TOO_LARGE')
    const ok = status === 401 || beforeGuard || (status === 404 && String(error.message).startsWith('no route'))
    assert.ok(ok, `without valid credentials: ${where}`)
  }
}
