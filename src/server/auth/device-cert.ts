import type {Duplex} from 'node:stream'
import {TLSSocket} from 'node:tls'
import type {FastifyInstance, FastifyRequest} from 'fastify'
import type {Kysely} from 'kysely'
import {AuthError, ForbiddenError, UnavailableError} from '../../shared/errors.js'
import type {Database} from '../db/schema.js'
import {sameFingerprint} from '../../shared/x509.js'
import {declareGuard} from './guards.js'

export type DeviceVerdict =
  | {ok: true; serial: string; customerId: string; fingerprint: string}
  | {ok: false; status: 401 | 403 | 404 | 503; code: string; message: string}

/**
 * The one device authentication, shared by the hub's WebSocket upgrade and the agent's HTTPS
 * routes (log uploads). Who is knocking: a TLS client certificate that verified against the device CA (the server
 * asks for one on every connection, see http/tls-options.ts), whose CN is an enrolled,
 * unrevoked device and whose fingerprint is the one issued at its latest enrollment.
 * 401: no or unverifiable certificate (wrong CA, expired); 403: a valid certificate the
 * registry no longer accepts (revoked, unknown, replaced by a re-enrollment).
 */
export async function authenticateDevice(socket: Duplex, db: Kysely<Database>): Promise<DeviceVerdict> {
  if (!(socket instanceof TLSSocket)) return refuse(401, 'CERT_REQUIRED', 'mutual TLS with a device certificate is required')
  // The X509Certificate object, not getPeerCertificate(): that one decodes the whole certificate
  // into a plain object (~3x the cost per connection; bench/agent-fanin at 19,000, issue #15).
  const cert = socket.getPeerX509Certificate()
  if (!cert) return refuse(401, 'CERT_REQUIRED', 'no client certificate: enroll the device first (tether agent enroll)')
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? 'not trusted')
    const expired = reason === 'CERT_HAS_EXPIRED'
    return refuse(401, expired ? 'CERT_EXPIRED' : 'CERT_UNTRUSTED', expired ? 'device certificate expired' : `device certificate not trusted (${reason})`)
  }
  // One "KEY=value" per line, control characters and RFC 2253 specials escaped (serials have none).
  const cn = /^CN=(.+)$/m.exec(cert.subject)?.[1]
  if (!cn) return refuse(401, 'CERT_UNTRUSTED', 'device certificate has no CN')
  let device
  try {
    device = await db
      .selectFrom('devices')
      .select(['serial', 'customer_id', 'enrolled_at', 'revoked_at', 'cert_fingerprint'])
      .where('serial', '=', cn)
      .executeTakeFirst()
  } catch (error) {
    return refuse(503, 'UNAVAILABLE', `registry unavailable: ${(error as Error).message}`)
  }
  if (!device) return refuse(403, 'UNKNOWN_DEVICE', `device "${cn}" is not registered`)
  if (device.revoked_at !== null) return refuse(403, 'REVOKED', `device "${cn}" was revoked at ${device.revoked_at}`)
  if (device.enrolled_at === null || device.cert_fingerprint === null || !sameFingerprint(device.cert_fingerprint, cert.fingerprint256)) {
    return refuse(403, 'CERT_REPLACED', `this certificate is not the current one of device "${cn}" (re-enrolled?)`)
  }
  return {ok: true, serial: device.serial, customerId: device.customer_id, fingerprint: cert.fingerprint256}
}

function refuse(status: 401 | 403 | 404 | 503, code: string, message: string): DeviceVerdict {
  return {ok: false, status, code, message}
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The device of an mTLS-authenticated agent request (requireDevice); null elsewhere. */
    device: {serial: string; customerId: string} | null
  }
}

/**
 * preHandler for routes the agent calls over HTTPS with its device certificate (log uploads):
 * the same verdict as the control channel's upgrade. Register with `decorateRequest('device', null)`.
 */
export const requireDevice = declareGuard(async function requireDevice(this: FastifyInstance, request: FastifyRequest): Promise<void> {
  const verdict = await authenticateDevice(request.raw.socket, request.server.db)
  if (verdict.ok) {
    request.device = {serial: verdict.serial, customerId: verdict.customerId}
    return
  }
  const message = `${verdict.code}: ${verdict.message}`
  if (verdict.status === 401) throw new AuthError(message)
  if (verdict.status === 503) throw new UnavailableError(message)
  throw new ForbiddenError(message)
}, {kind: 'device'})
