/**
 * Every failure a user can meet is one of these classes. Libraries throw them; the command
 * layer (src/shared/command.ts) renders them. Exit codes are a public contract (README).
 */
export const ExitCode = {
  OK: 0,
  /** The operation ran and failed, or a check did not pass. */
  FAILED: 1,
  /** Bad flags, arguments or input files. */
  USAGE: 2,
  /** Not logged in, bad credentials, MFA required, session expired or revoked. */
  AUTH: 3,
  /** Authenticated, but the role lacks the permission. */
  FORBIDDEN: 4,
  /** The object does not exist (or is outside the caller's scope). */
  NOT_FOUND: 5,
  /** The object already exists or the request conflicts with its state. */
  CONFLICT: 6,
  /** The server (or database, proxy) could not be reached or refused the TLS handshake. */
  UNAVAILABLE: 7,
  /** Accepted and still running: the command returned before the work ended. */
  PENDING: 8,
  /** Too many requests; retry later. */
  RATE_LIMITED: 9,
  /** A bug in Tether. */
  INTERNAL: 70,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

interface CodeEntry {
  /** The HTTP status the server answers with this code (also the status a client maps back). */
  status: number
  /** The CLI's exit code for it (README "Exit codes"). */
  exitCode: ExitCodeValue
}

/**
 * Every error code, its HTTP status and its exit code, declared together once (fastify's
 * lib/errors.js is the model). The server's error handler answers with `status`; a code missing
 * here is a bug, answered 500 and logged, never a silent 400 (test/shared/errors.test.ts scans
 * src/ for codes that are not here). Client-only codes carry the status they stand for.
 */
export const ERROR_CODES = {
  FAILED: {status: 500, exitCode: ExitCode.FAILED},
  USAGE: {status: 400, exitCode: ExitCode.USAGE},
  WEAK_PASSWORD: {status: 400, exitCode: ExitCode.USAGE},
  TOO_LARGE: {status: 413, exitCode: ExitCode.USAGE},
  AUTH: {status: 401, exitCode: ExitCode.AUTH},
  MFA_REQUIRED: {status: 401, exitCode: ExitCode.AUTH},
  // An API token past its expiry or revoked: a new token is needed, not a login.
  API_TOKEN_EXPIRED: {status: 401, exitCode: ExitCode.AUTH},
  API_TOKEN_REVOKED: {status: 401, exitCode: ExitCode.AUTH},
  // Client side: no stored session, or the refresh token no longer works.
  NOT_LOGGED_IN: {status: 401, exitCode: ExitCode.AUTH},
  SESSION_EXPIRED: {status: 401, exitCode: ExitCode.AUTH},
  // `tether login` without a terminal: enrol MFA, then confirm it, in separate runs.
  MFA_ENROLLMENT_REQUIRED: {status: 403, exitCode: ExitCode.AUTH},
  MFA_ENABLED: {status: 401, exitCode: ExitCode.AUTH},
  LOCKED: {status: 423, exitCode: ExitCode.AUTH},
  // Single sign-on (src/server/auth/sso, docs/sso.md): the IdP or Tether refused the sign-in,
  // password logins are off for this account, or no identity provider is configured.
  SSO_REFUSED: {status: 401, exitCode: ExitCode.AUTH},
  SSO_REQUIRED: {status: 401, exitCode: ExitCode.AUTH},
  SSO_NOT_CONFIGURED: {status: 404, exitCode: ExitCode.NOT_FOUND},
  // Enrollment tokens (src/server/enrollment, src/agent/enroll.ts).
  TOKEN_EXPIRED: {status: 410, exitCode: ExitCode.AUTH},
  ENROLL_TOKEN_INVALID: {status: 401, exitCode: ExitCode.AUTH},
  ENROLL_TOKEN_EXPIRED: {status: 410, exitCode: ExitCode.AUTH},
  FORBIDDEN: {status: 403, exitCode: ExitCode.FORBIDDEN},
  NOT_FOUND: {status: 404, exitCode: ExitCode.NOT_FOUND},
  CONFLICT: {status: 409, exitCode: ExitCode.CONFLICT},
  // Tunnels (src/server/tunnels, docs/tunnels.md): refused by the device's policy ...
  REFUSED_BY_DEVICE: {status: 403, exitCode: ExitCode.FORBIDDEN},
  PORT_NOT_ALLOWED: {status: 403, exitCode: ExitCode.FORBIDDEN},
  TARGET_NOT_ALLOWED: {status: 403, exitCode: ExitCode.FORBIDDEN},
  APPROVAL_REQUIRED: {status: 403, exitCode: ExitCode.FORBIDDEN},
  // ... by the target, or the way there; and the server's own refusals of a stream.
  TARGET_REFUSED: {status: 502, exitCode: ExitCode.FAILED},
  DATA_LEG_FAILED: {status: 502, exitCode: ExitCode.FAILED},
  TUNNEL_SETUP_TIMEOUT: {status: 504, exitCode: ExitCode.UNAVAILABLE},
  DEVICE_REVOKED: {status: 409, exitCode: ExitCode.CONFLICT},
  INVALID_REQUEST: {status: 400, exitCode: ExitCode.USAGE},
  TICKET_INVALID: {status: 403, exitCode: ExitCode.FORBIDDEN},
  // The engineer hung up while the stream was being set up (audited; nobody receives the answer).
  ENGINEER_GONE: {status: 499, exitCode: ExitCode.FAILED},
  SHUTTING_DOWN: {status: 503, exitCode: ExitCode.UNAVAILABLE},
  // Tunnel legs between nodes (src/server/peering): the owning node cannot be reached; forwarding
  // headers from a connection without a node certificate; the device left the node a leg was
  // forwarded to; a live stream's connection lost (client side).
  PEER_UNREACHABLE: {status: 503, exitCode: ExitCode.UNAVAILABLE},
  FORWARD_REFUSED: {status: 403, exitCode: ExitCode.FORBIDDEN},
  DEVICE_MOVED: {status: 503, exitCode: ExitCode.UNAVAILABLE},
  TUNNEL_LOST: {status: 503, exitCode: ExitCode.UNAVAILABLE},
  // A live stream the server ended, as its END frame says why (client side, src/client/tunnel-end.ts):
  // closed by a user (tunnels close), idle, the device's leg lost, the credentials revoked or the user disabled.
  TUNNEL_CLOSED: {status: 409, exitCode: ExitCode.FAILED},
  TUNNEL_IDLE: {status: 408, exitCode: ExitCode.FAILED},
  TUNNEL_DEVICE_GONE: {status: 502, exitCode: ExitCode.UNAVAILABLE},
  TUNNEL_ENDED_BY_DEVICE: {status: 403, exitCode: ExitCode.FORBIDDEN},
  TUNNEL_CREDENTIALS_REVOKED: {status: 401, exitCode: ExitCode.AUTH},
  // A live stream on another node was asked to close and that node did not confirm in time.
  TUNNEL_CLOSE_UNCONFIRMED: {status: 504, exitCode: ExitCode.UNAVAILABLE},
  // Jobs and log uploads (routes/jobs.ts, uploads.ts, logs.ts).
  JOB_FINAL: {status: 409, exitCode: ExitCode.CONFLICT},
  JOB_FAILED: {status: 500, exitCode: ExitCode.FAILED},
  OFFSET_MISMATCH: {status: 409, exitCode: ExitCode.CONFLICT},
  UPLOAD_BUSY: {status: 409, exitCode: ExitCode.CONFLICT},
  UPLOAD_COMPLETE: {status: 409, exitCode: ExitCode.CONFLICT},
  CHECKSUM_MISMATCH: {status: 422, exitCode: ExitCode.FAILED},
  BUNDLE_TAMPERED: {status: 500, exitCode: ExitCode.FAILED},
  KEY_UNAVAILABLE: {status: 500, exitCode: ExitCode.FAILED},
  // Software updates: TUF metadata that fails a signature, version, expiry or custom-field check (src/shared/tuf).
  TUF_METADATA_INVALID: {status: 422, exitCode: ExitCode.FAILED},
  // A publish committed before all its packages arrived; a target path already published with other bytes (src/server/updates).
  PACKAGES_MISSING: {status: 409, exitCode: ExitCode.CONFLICT},
  TARGET_PATH_TAKEN: {status: 409, exitCode: ExitCode.CONFLICT},
  // Deployments (src/server/rollouts): no published target for version and model; a move the status forbids.
  TARGET_NOT_FOUND: {status: 404, exitCode: ExitCode.NOT_FOUND},
  DEPLOYMENT_STATE: {status: 409, exitCode: ExitCode.CONFLICT},
  // A TOTP secret the MFA key does not open (src/server/auth/mfa-secret.ts).
  MFA_KEY: {status: 500, exitCode: ExitCode.FAILED},
  NO_CHECKPOINT: {status: 404, exitCode: ExitCode.FAILED},
  // Fleet log requests and pulls, and `logs pull --extract` (src/client, client side only).
  NO_DEVICES: {status: 404, exitCode: ExitCode.FAILED},
  FLEET_INCOMPLETE: {status: 500, exitCode: ExitCode.FAILED},
  UNKNOWN_FORMAT: {status: 422, exitCode: ExitCode.FAILED},
  UNSAFE_ENTRY: {status: 422, exitCode: ExitCode.FAILED},
  EXTRACT_FAILED: {status: 422, exitCode: ExitCode.FAILED},
  // Checks whose result is printed with a non-zero exit (audit verify, agent audit/status).
  AUDIT_CHAIN_BROKEN: {status: 500, exitCode: ExitCode.FAILED},
  NOT_CONNECTED: {status: 503, exitCode: ExitCode.FAILED},
  PENDING: {status: 202, exitCode: ExitCode.PENDING},
  DEVICE_OFFLINE: {status: 503, exitCode: ExitCode.UNAVAILABLE},
  DEVICE_BUSY: {status: 503, exitCode: ExitCode.UNAVAILABLE},
  DEVICE_TIMEOUT: {status: 504, exitCode: ExitCode.UNAVAILABLE},
  UNAVAILABLE: {status: 503, exitCode: ExitCode.UNAVAILABLE},
  // The audit trail could not record a change, so the change was rolled back (audit/chain.ts).
  AUDIT_UNAVAILABLE: {status: 503, exitCode: ExitCode.UNAVAILABLE},
  // Client side: the server's certificate or answer is not what it must be.
  TLS_PIN_MISMATCH: {status: 502, exitCode: ExitCode.UNAVAILABLE},
  TLS_WRONG_CA: {status: 502, exitCode: ExitCode.UNAVAILABLE},
  PROTOCOL: {status: 502, exitCode: ExitCode.UNAVAILABLE},
  NOT_JSON: {status: 502, exitCode: ExitCode.UNAVAILABLE},
  RATE_LIMITED: {status: 429, exitCode: ExitCode.RATE_LIMITED},
  INTERNAL: {status: 500, exitCode: ExitCode.INTERNAL},
} as const satisfies Record<string, CodeEntry>

export type ErrorCode = keyof typeof ERROR_CODES

/** The table's entry for a code, or undefined for a code nobody declared (a bug). */
export function errorCodeEntry(code: string): CodeEntry | undefined {
  return Object.hasOwn(ERROR_CODES, code) ? ERROR_CODES[code as ErrorCode] : undefined
}

export interface TetherErrorOptions {
  code?: string
  exitCode?: ExitCodeValue
  suggestions?: string[]
  cause?: unknown
  /** Structured detail for --json output (never secrets). */
  details?: Record<string, unknown>
}

export class TetherError extends Error {
  readonly code: string
  readonly exitCode: ExitCodeValue
  readonly suggestions: string[]
  readonly details?: Record<string, unknown>

  constructor(message: string, options: TetherErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.code = options.code ?? 'FAILED'
    this.exitCode = options.exitCode ?? errorCodeEntry(this.code)?.exitCode ?? ExitCode.FAILED
    this.suggestions = options.suggestions ?? []
    this.details = options.details
  }
}

type Opts = Omit<TetherErrorOptions, 'exitCode'>

/** Bad input: names the flag, argument, field or file line at fault. */
export class UsageError extends TetherError {
  constructor(message: string, options: Opts = {}) {
    super(message, {code: 'USAGE', ...options, exitCode: ExitCode.USAGE})
  }
}

/** The work ran and did not succeed (a failing check, a refused job). */
export class OperationFailedError extends TetherError {
  constructor(message: string, options: Opts = {}) {
    super(message, {code: 'FAILED', ...options, exitCode: ExitCode.FAILED})
  }
}

export class AuthError extends TetherError {
  constructor(message: string, options: Opts = {}) {
    super(message, {code: 'AUTH', ...options, exitCode: ExitCode.AUTH})
  }
}

export class ForbiddenError extends TetherError {
  constructor(message: string, options: Opts = {}) {
    super(message, {code: 'FORBIDDEN', ...options, exitCode: ExitCode.FORBIDDEN})
  }
}

export class NotFoundError extends TetherError {
  constructor(message: string, options: Opts = {}) {
    super(message, {code: 'NOT_FOUND', ...options, exitCode: ExitCode.NOT_FOUND})
  }
}

export class ConflictError extends TetherError {
  constructor(message: string, options: Opts = {}) {
    super(message, {code: 'CONFLICT', ...options, exitCode: ExitCode.CONFLICT})
  }
}

export class UnavailableError extends TetherError {
  constructor(message: string, options: Opts = {}) {
    super(message, {code: 'UNAVAILABLE', ...options, exitCode: ExitCode.UNAVAILABLE})
  }
}

export class PendingError extends TetherError {
  constructor(message: string, options: Opts = {}) {
    super(message, {code: 'PENDING', ...options, exitCode: ExitCode.PENDING})
  }
}

export class RateLimitedError extends TetherError {
  constructor(message: string, options: Opts = {}) {
    super(message, {code: 'RATE_LIMITED', ...options, exitCode: ExitCode.RATE_LIMITED})
  }
}
