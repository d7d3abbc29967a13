import {MAX_ACCESS_DECISION_TTL_SECONDS, MAX_ACCESS_SECONDS} from '../protocol/agent/access.js'
import type {CreateAccessRequest} from '../protocol/api/access.js'
import {formatDuration, parseDuration} from '../shared/duration.js'
import {ExitCode, type ExitCodeValue, UnavailableError, UsageError} from '../shared/errors.js'
import {renderFields, renderTable} from '../shared/output.js'
import {AccessApi, type AccessRequest} from './access-api.js'
import {waitUntilFinal} from './job-waiter.js'
import {withApi} from './session.js'

/** Runs fn with an AccessApi on the active session (TETHER_TOKEN works as everywhere). */
export function withAccessApi<T>(fn: (api: AccessApi) => Promise<T>): Promise<T> {
  return withApi((admin) => fn(new AccessApi(admin.client)))
}

/** `access request` flags → the API body; every bad value is named by its flag. */
export function accessRequestBody(flags: {reason: string; for: string; port?: string[]; ttl: string}): CreateAccessRequest {
  const reason = flags.reason.trim()
  if (reason === '') throw new UsageError('--reason: say why you need access (an incident or ticket number, e.g. "INC-4711")')
  if (reason.length > 256) throw new UsageError(`--reason: at most 256 characters (got ${reason.length})`)
  const forMs = parseDuration(flags.for, '--for')
  if (forMs > MAX_ACCESS_SECONDS * 1000) throw new UsageError(`--for: at most ${MAX_ACCESS_SECONDS / 3600}h (got ${flags.for}); ask again when it runs out`)
  if (forMs < 1000) throw new UsageError(`--for: at least 1s (got ${flags.for})`)
  const ttlMs = parseDuration(flags.ttl, '--ttl')
  if (ttlMs > MAX_ACCESS_DECISION_TTL_SECONDS * 1000) throw new UsageError(`--ttl: at most ${formatDuration(MAX_ACCESS_DECISION_TTL_SECONDS * 1000)} (got ${flags.ttl})`)
  const ports = (flags.port ?? []).map((text) => {
    const port = Number(text)
    if (!/^\d+$/.test(text.trim()) || port < 1 || port > 65535) throw new UsageError(`--port: "${text}" is not a TCP port (1-65535)`)
    return port
  })
  if (new Set(ports).size !== ports.length) throw new UsageError('--port: a port is named twice')
  return {reason, durationSeconds: Math.round(forMs / 1000), ...(ports.length > 0 ? {ports} : {}), ttlSeconds: Math.max(1, Math.round(ttlMs / 1000))}
}

/** `--wait`: the shared waiter, until the device decided (or the request expired). */
export function waitForDecision(api: AccessApi, request: AccessRequest, options: {timeoutMs: number; intervalMs: number; say?: (line: string) => void}): Promise<AccessRequest> {
  const {say} = options
  const until = new Date(Date.now() + options.timeoutMs).toTimeString().slice(0, 8)
  return waitUntilFinal(
    {
      first: request,
      get: () => api.get(request.id),
      isFinal: (r) => r.state !== 'pending',
      unknown: (away, last, seconds) =>
        new UnavailableError(`${away.message}; gave up waiting for access request ${request.id} after ${seconds}s, its state is unknown: check later with \`tether access list ${request.id}\``, {
          cause: away,
          details: {...away.details, requestId: request.id, lastState: last.state},
        }),
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: options.intervalMs,
      ...(say && {
        onUnreachable: (error) => say(`Server unreachable: ${error.message}. Still waiting for access request ${request.id} until ${until}.`),
        onReachable: () => say(`Server reachable again; waiting for access request ${request.id}.`),
      }),
    },
  )
}

/**
 * Exit semantics of `--wait`: approved → null (exit 0); denied, expired or revoked → exit 1
 * with what happened; still pending → exit 8 (accepted, waiting for the device).
 */
export function accessOutcome(r: AccessRequest): {message: string; exitCode: ExitCodeValue; code: string} | null {
  if (r.state === 'approved') return null
  if (r.state === 'pending') {
    const where = r.deliveredAt ? 'waiting for a decision at the device' : 'the device is offline; it gets the request when it connects'
    return {message: `accepted, still pending: access request ${r.id} (${where}); follow it with \`tether access list ${r.id} --wait\``, exitCode: ExitCode.PENDING, code: 'PENDING'}
  }
  const by = r.decidedBy ? ` by ${r.decidedBy}` : ''
  return {message: `access request ${r.id} was ${r.state}${by}`, exitCode: ExitCode.FAILED, code: `ACCESS_${r.state.toUpperCase()}`}
}

const dash = (v: string | null | undefined) => v ?? '-'
const portsText = (ports: number[]) => (ports.length > 0 ? ports.join(', ') : 'any the device allows')

export function accessTable(requests: AccessRequest[]): string {
  return renderTable(
    ['Id', 'Device', 'User', 'Ports', 'For', 'State', 'Until', 'Reason', 'Created'],
    requests.map((r) => [r.id, r.serial, r.requestedBy, portsText(r.ports), formatDuration(r.durationSeconds * 1000), r.state, dash(r.until), r.reason, r.createdAt]),
  )
}

export function accessFields(r: AccessRequest): string {
  return renderFields([
    ['Id', r.id],
    ['Device', r.serial],
    ['Customer', r.customer],
    ['User', r.requestedBy],
    ['Reason', r.reason],
    ['Ports', portsText(r.ports)],
    ['For', formatDuration(r.durationSeconds * 1000)],
    ['State', r.state],
    ['Created', r.createdAt],
    ['Decide by', r.expiresAt],
    ['Delivered', r.deliveredAt ?? (r.state === 'pending' ? 'not yet (device offline)' : '-')],
    ['Decided', r.decidedAt ? `${r.decidedAt}${r.decidedBy ? ` by ${r.decidedBy}` : ''}` : null],
    ['Until', r.until],
  ])
}
