import type {CatalogRoute} from '../../../src/server/http/route-catalog.js'
import {API_PREFIX} from '../../../src/protocol/api/common.js'

/**
 * A request the guard matrix (routes/api-token-matrix.test.ts) can send to any catalogued route.
 * Guards run as preHandlers, after schema validation, so a body or query the schema refuses would
 * be a 400 before the guard decides: routes whose schema demands one get a valid sample here.
 * A new route without one fails the matrix with that 400, naming the route.
 */
export interface RouteSample {
  path: string
  query?: Record<string, string>
  headers?: Record<string, string>
  body?: unknown
  /** For a guard with byObject: the kind of the object the path names (e.g. a job's kind). */
  object?: string
}

/** Objects seeded by the matrix that path parameters point at. */
export interface SampleIds {
  /** An enrolled-looking device in scope. */
  serial: string
  /** A device that POST /devices/:serial/revoke may revoke. */
  revocableSerial: string
  /** A user that /users/:username routes may disable, re-role and re-scope. */
  username: string
  /** A queued diagnostic job. */
  diagnosticJobId: string
  /** An API token of another user (DELETE /tokens/:id). */
  tokenId: string
  /** A pending just-in-time access request for `serial`. */
  accessRequestId: string
}

type Extra = Omit<RouteSample, 'path'> & {params?: Record<string, string>}

/** Route key as in the catalog minus the API prefix: "POST /devices/:serial/logs". */
export const routeKey = (route: Pick<CatalogRoute, 'method' | 'url'>): string => `${route.method} ${route.url.slice(API_PREFIX.length)}`

/** Per-route bodies, queries and parameter overrides; keys must name catalogued routes. */
export const SAMPLES: Record<string, (ids: SampleIds) => Extra> = {
  'POST /me/mfa/confirm': () => ({body: {code: '123456'}}),
  'POST /users': () => ({body: {username: 'matrix-new', role: 'viewer'}}),
  'PUT /me/password': () => ({body: {currentPassword: 'not-checked-here', newPassword: 'weak'}}),
  'POST /users/:username/password': () => ({body: {}}),
  'PUT /users/:username/role': () => ({body: {role: 'auditor'}}),
  'PUT /users/:username/scope': () => ({body: {all: false, entries: [{customer: 'acme'}]}}),
  'POST /tokens': () => ({body: {name: 'matrix-minted', permissions: ['devices:read']}}),
  'DELETE /tokens/:id': (ids) => ({params: {id: ids.tokenId}}),
  'POST /customers': () => ({body: {id: 'matrix-c', name: 'Matrix Customer'}}),
  'POST /sites': () => ({body: {id: 'matrix-s', customer: 'acme', name: 'Matrix Site'}}),
  'POST /devices': () => ({body: {serial: 'SN-MATRIX', model: 'Analyzer', customer: 'acme'}}),
  'POST /devices/enroll-tokens': () => ({body: {serial: 'SN-ENROL', model: 'Analyzer', customer: 'acme'}}),
  'POST /devices/:serial/revoke': (ids) => ({params: {serial: ids.revocableSerial}}),
  'GET /tunnels': () => ({}),
  'DELETE /tunnels/:id': () => ({params: {id: 'no-such-tunnel'}}),
  'POST /devices/:serial/diagnostics': () => ({body: {name: 'system-info'}}),
  'POST /devices/:serial/logs': () => ({body: {}}),
  'GET /jobs/:id': (ids) => ({params: {id: ids.diagnosticJobId}}),
  'POST /jobs/:id/cancel': (ids) => ({params: {id: ids.diagnosticJobId}, object: 'diagnostic'}),
  'POST /devices/:serial/access-requests': () => ({body: {reason: 'INC-MATRIX', durationSeconds: 3600, ports: [5900]}}),
  'GET /access-requests/:id': (ids) => ({params: {id: ids.accessRequestId}}),
  'POST /deployments': () => ({body: {version: '2.4.1', model: 'Analyzer', customer: 'acme'}}),
  'POST /agent/uploads': () => ({body: {size: 10, sha256: '0'.repeat(64)}}),
  'PUT /agent/uploads/:id': () => ({query: {offset: '0'}, headers: {'content-type': 'application/octet-stream'}, body: Buffer.from('0123456789')}),
  'POST /updates/publishes': () => ({body: {roots: [], targets: {}}}),
  'PUT /updates/publishes/:id/packages/*': () => ({params: {id: NO_SUCH_PUBLISH}, headers: {'content-type': 'application/octet-stream'}, body: Buffer.from('0123456789')}),
  'POST /updates/publishes/:id/commit': () => ({params: {id: NO_SUCH_PUBLISH}, body: {}}),
}

const NO_SUCH_PUBLISH = '00000000-0000-4000-8000-000000000000'

/** Path parameters by name unless the route's sample overrides them; others get a dummy id. */
function defaultParams(ids: SampleIds): Record<string, string> {
  return {serial: ids.serial, username: ids.username}
}

export function sampleFor(route: Pick<CatalogRoute, 'method' | 'url'>, ids: SampleIds): RouteSample {
  const {params, ...extra} = SAMPLES[routeKey(route)]?.(ids) ?? {}
  const values = {...defaultParams(ids), ...params}
  const path = route.url.slice(API_PREFIX.length).replaceAll(/:(\w+)/g, (_m, name: string) => encodeURIComponent(values[name] ?? `no-such-${name}`))
  return {path, ...extra}
}
