import {StoredSession, type SessionBackend} from './credential-store-file.js'
import {UsageError} from './errors.js'

export const KEYCHAIN_SERVICE = 'tether'

/** The part of keytar we use (keytar is an optional dependency with a native module). */
export interface KeytarLike {
  getPassword(service: string, account: string): Promise<string | null>
  setPassword(service: string, account: string, password: string): Promise<void>
  deletePassword(service: string, account: string): Promise<boolean>
}

/** Loads keytar, or returns the reason it cannot be used (not installed, no native build). */
export async function loadKeytar(): Promise<KeytarLike | Error> {
  try {
    // A variable specifier: where keytar could not be built (no libsecret), npm leaves the optional
    // dependency out, and the build must not need its type declarations.
    const specifier = 'keytar'
    const mod = (await import(specifier)) as {default?: KeytarLike} & KeytarLike
    return mod.default ?? mod
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error))
  }
}

/**
 * Sessions in the OS keychain (Secret Service on Linux, Keychain on macOS, Credential Manager
 * on Windows): service "tether", account = server URL, secret = the session JSON.
 * Every call has a deadline because a Secret Service that never answers must not hang the CLI.
 */
export class KeychainSessionBackend implements SessionBackend {
  readonly kind = 'keychain' as const
  readonly location = 'the OS keychain'

  constructor(
    private readonly keytar: KeytarLike,
    private readonly timeoutMs = 5000,
  ) {}

  async load(server: string): Promise<StoredSession | null> {
    const text = await this.deadline(this.keytar.getPassword(KEYCHAIN_SERVICE, server))
    if (text === null) return null
    const parsed = StoredSession.safeParse(safeJson(text))
    if (!parsed.success) throw new UsageError(`the keychain entry for ${server} is not a Tether session; run \`tether logout\` and log in again`)
    return parsed.data
  }

  async save(session: StoredSession): Promise<void> {
    await this.deadline(this.keytar.setPassword(KEYCHAIN_SERVICE, session.server, JSON.stringify(session)))
  }

  async remove(server: string): Promise<boolean> {
    return this.deadline(this.keytar.deletePassword(KEYCHAIN_SERVICE, server))
  }

  private deadline<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the OS keychain did not answer within ${this.timeoutMs}ms`)), this.timeoutMs)
      timer.unref()
    })
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}
