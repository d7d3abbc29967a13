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
    this.exitCode = options.exitCode ?? ExitCode.FAILED
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
