import {ErrorBody} from '../protocol/api/common.js'
import {messageForField} from './field-errors.js'
import {CHAIN_UNTRUSTED_CODES} from '../shared/tls-errors.js'
import {
  AuthError,
  ConflictError,
  errorCodeEntry,
  ExitCode,
  ForbiddenError,
  NotFoundError,
  OperationFailedError,
  RateLimitedError,
  TetherError,
  UnavailableError,
  UsageError,
} from '../shared/errors.js'

type Headers = Record<string, string | string[] | undefined>

/** Maps a non-2xx API answer to the typed error the command layer renders. */
export function errorFromResponse(status: number, body: unknown, headers: Headers = {}): TetherError {
  const parsed = ErrorBody.safeParse(body)
  const code = parsed.success ? parsed.data.error.code : undefined
  const message = parsed.success ? parsed.data.error.message : `HTTP ${status}`
  const field = parsed.success ? parsed.data.error.field : undefined
  const details = {status, ...(code ? {serverCode: code} : {}), ...(field ? {field} : {})}

  switch (status) {
    case 400:
      return new UsageError(field ? messageForField(field, message) : message, {code: code ?? 'USAGE', details})
    case 401:
      if (code === 'MFA_REQUIRED') {
        return new AuthError('a TOTP code is required: pass --totp CODE (or run interactively)', {code: 'MFA_REQUIRED', details})
      }
      if (code === 'API_TOKEN_EXPIRED' || code === 'API_TOKEN_REVOKED') {
        // Logging in does not renew a script's token: a new token does.
        return new AuthError(`${message}: create a new one and set TETHER_TOKEN to it`, {
          code,
          details,
          suggestions: ['tether tokens create --name NAME --permission PERMISSION --ttl 90d   (after `tether login`; the secret is shown once)'],
        })
      }
      return new AuthError(`not authenticated: ${message}`, {details, suggestions: ['Run `tether login` (or set TETHER_TOKEN).']})
    case 403:
      return new ForbiddenError(`forbidden: ${message}`, {details})
    case 404:
      return new NotFoundError(message, {details})
    case 409:
      return new ConflictError(message, {details})
    case 423:
      return new AuthError(`account locked: ${message}; wait and try again, or ask an admin`, {code: 'LOCKED', details})
    case 429: {
      const retry = headerValue(headers, 'retry-after')
      const when = retry ? ` (retry after ${retry}s)` : ''
      return new RateLimitedError(`too many requests${when}: ${message}`, {details: {...details, ...(retry ? {retryAfter: retry} : {})}})
    }
    default: {
      // A code from the one table keeps its exit code (410 TOKEN_EXPIRED is an auth failure).
      const known = code === undefined ? undefined : errorCodeEntry(code)
      if (status < 500 && known && known.exitCode !== ExitCode.INTERNAL) return new TetherError(message, {code, exitCode: known.exitCode, details})
      if (status >= 500) return new UnavailableError(`server error (HTTP ${status}): ${message}`, {details})
      return new OperationFailedError(`unexpected HTTP ${status}: ${message}`, {details})
    }
  }
}


/** Maps a connection-level failure (refused, DNS, TLS) to an UnavailableError with the reason. */
export function errorFromNetwork(server: string, error: unknown): TetherError {
  if (error instanceof TetherError) return error
  const e = error as NodeJS.ErrnoException & {cause?: NodeJS.ErrnoException}
  const code = e?.code ?? e?.cause?.code ?? ''
  const raw = e?.message ?? String(error)
  let reason: string
  let suggestions: string[] = []
  if (CHAIN_UNTRUSTED_CODES.has(code)) {
    reason = 'certificate not trusted: pass --ca or --fingerprint'
    suggestions = ['tether login --server URL --ca server-ca.pem   (the CA file from `tether server init`)']
  } else if (code === 'ERR_TETHER_PIN_MISMATCH') {
    reason = `certificate not trusted: ${raw}`
  } else if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    reason = `the server certificate is not valid now (${code})`
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    reason = `the server certificate does not name this host: ${raw}`
  } else if (code === 'ECONNREFUSED') {
    reason = 'connection refused (is `tether server start` running on that address?)'
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    reason = 'host name not found'
  } else if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    reason = 'timed out'
  } else if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') {
    reason = 'connection closed by the server or a proxy'
  } else if (/certificate|ssl|tls/i.test(`${code} ${raw}`)) {
    reason = `TLS handshake failed: ${raw}`
  } else {
    reason = code ? `${code}: ${raw}` : raw
  }
  return new UnavailableError(`${server}: ${reason}`, {cause: error, suggestions, details: code ? {errno: code} : undefined})
}

/** Connection-level failures that say "not there right now" (not TLS trust, not a bad name). */
const AWAY_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT'])
/** Answers of a server restarting (or of a proxy / load balancer in front of one). */
const AWAY_STATUSES = new Set([502, 503, 504])

/**
 * True for an error of a server that is restarting or briefly unreachable, which a caller that
 * can wait (a job waiter) retries; false for anything a retry cannot fix (auth, TLS trust, 4xx).
 */
export function isServerAway(error: unknown): error is UnavailableError {
  if (!(error instanceof UnavailableError)) return false
  const {errno, status} = error.details ?? {}
  return AWAY_ERRNOS.has(String(errno)) || AWAY_STATUSES.has(Number(status))
}

function headerValue(headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}
