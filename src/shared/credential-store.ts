import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'
import {z} from 'zod'
import {writeFileAtomic} from './atomic-file.js'
import {FileSessionBackend, type SessionBackend, type StoredSession} from './credential-store-file.js'
import {KeychainSessionBackend, loadKeytar, type KeytarLike} from './credential-store-keytar.js'
import {UnavailableError, UsageError} from './errors.js'
import {configDir} from './paths.js'
import {readTextIfExists} from './optional-file.js'

export {StoredSession} from './credential-store-file.js'
export type {SessionBackend} from './credential-store-file.js'

export type StoreKind = 'keychain' | 'file'

/** Non-secret settings in config.json: the current server and how to trust each server. */
const Settings = z.object({
  currentServer: z.string().optional(),
  servers: z
    .record(z.string(), z.object({username: z.string(), ca: z.string().optional(), fingerprint: z.string().optional(), store: z.enum(['keychain', 'file'])}))
    .default({}),
  /** The last server logged in to and its trust anchor: kept after logout, so `tether login` alone reuses it. */
  lastServer: z.object({server: z.string(), ca: z.string().optional(), fingerprint: z.string().optional()}).optional(),
  /** "SERVER USERNAME" whose MFA enrolment was confirmed by the previous run and whose login has not happened yet. */
  mfaEnrolled: z.string().optional(),
})
export type Settings = z.infer<typeof Settings>

export interface SavedWhere {
  store: StoreKind
  /** "the OS keychain" or "<path> (0600; no OS keychain available)". */
  location: string
}

export interface CredentialStoreOptions {
  dir?: string
  /** TETHER_CREDENTIAL_STORE: force one backend; default tries the keychain first. */
  prefer?: 'auto' | StoreKind
  /** Injected for tests; default loads the optional keytar module. */
  keytar?: () => Promise<KeytarLike | Error>
}

/**
 * Sessions (secret) live in the OS keychain when a Secret Service answers, else in a 0600
 * credentials.json; settings (current server, CA) in config.json. config.json remembers which
 * backend holds each server's session so reads never probe the keychain needlessly.
 */
export class CredentialStore {
  readonly dir: string
  private readonly prefer: 'auto' | StoreKind
  private readonly keytarLoader: () => Promise<KeytarLike | Error>
  private keychain?: Promise<KeychainSessionBackend | Error>

  constructor(options: CredentialStoreOptions = {}) {
    this.dir = options.dir ?? configDir()
    this.prefer = options.prefer ?? preferenceFromEnv()
    this.keytarLoader = options.keytar ?? loadKeytar
  }

  get settingsPath(): string {
    return join(this.dir, 'config.json')
  }

  file(): FileSessionBackend {
    return new FileSessionBackend(this.dir)
  }

  async settings(): Promise<Settings> {
    const text = await readTextIfExists(this.settingsPath)
    if (text === null) return {servers: {}}
    const parsed = Settings.safeParse(parseJson(text))
    if (!parsed.success) throw new UsageError(`${this.settingsPath} is not a valid Tether settings file; fix or delete it`)
    return parsed.data
  }

  /** Saves a session in the keychain (or the file fallback) and, by default, makes its server current. */
  async save(session: StoredSession, options: {makeCurrent?: boolean} = {}): Promise<SavedWhere> {
    let backend: SessionBackend = this.file()
    if (this.prefer !== 'file') {
      const keychain = await this.keychainBackend()
      if (keychain instanceof KeychainSessionBackend) {
        try {
          await keychain.save(session)
          backend = keychain
        } catch (error) {
          if (this.prefer === 'keychain') throw keychainUnavailable(error)
        }
      } else if (this.prefer === 'keychain') {
        throw keychainUnavailable(keychain)
      }
    }
    if (backend.kind === 'file') await backend.save(session)
    // A session lives in one place only: drop an older copy in the other backend.
    else await this.file().remove(session.server)

    const settings = await this.settings()
    if (options.makeCurrent !== false || !settings.currentServer) settings.currentServer = session.server
    settings.servers[session.server] = {username: session.username, ca: session.ca, fingerprint: session.fingerprint, store: backend.kind}
    if (options.makeCurrent !== false) settings.lastServer = {server: session.server, ca: session.ca, fingerprint: session.fingerprint}
    await this.writeSettings(settings)
    return {store: backend.kind, location: backend.location}
  }

  /** The session for a server (default: the current one), and where it was found. */
  async load(server?: string): Promise<{session: StoredSession; where: SavedWhere} | null> {
    const settings = await this.settings()
    const target = server ?? settings.currentServer
    if (!target) return null
    const kind = settings.servers[target]?.store ?? 'file'
    const backend = kind === 'keychain' ? await this.keychainBackend() : this.file()
    if (backend instanceof Error) throw keychainUnavailable(backend)
    let session: StoredSession | null
    try {
      session = await backend.load(target)
    } catch (error) {
      throw backend.kind === 'keychain' ? keychainUnavailable(error) : error
    }
    return session ? {session, where: {store: backend.kind, location: backend.location}} : null
  }

  /** Deletes a server's session everywhere it may be, and its settings entry. */
  async remove(server: string): Promise<{removed: boolean}> {
    const settings = await this.settings()
    let removed = await this.file().remove(server)
    if (settings.servers[server]?.store === 'keychain') {
      const keychain = await this.keychainBackend()
      if (keychain instanceof Error) throw keychainUnavailable(keychain)
      removed = (await keychain.remove(server).catch((error: unknown) => {
        throw keychainUnavailable(error)
      })) || removed
    }
    if (settings.servers[server]) {
      removed = true
      delete settings.servers[server]
    }
    if (settings.currentServer === server) delete settings.currentServer
    await this.writeSettings(settings)
    return {removed}
  }

  /**
   * Notes (enrolled: true) or consumes (enrolled: false) that a user's MFA enrolment was just
   * confirmed: a script enrols in two runs and logs in with a third, which then reports it.
   */
  async mfaEnrolment(server: string, username: string, enrolled: boolean): Promise<boolean> {
    const settings = await this.settings()
    const key = `${server} ${username}`
    const was = settings.mfaEnrolled === key
    if (enrolled) settings.mfaEnrolled = key
    else if (was) delete settings.mfaEnrolled
    else return false
    await this.writeSettings(settings)
    return was
  }

  private keychainBackend(): Promise<KeychainSessionBackend | Error> {
    this.keychain ??= this.keytarLoader().then((k) => (k instanceof Error ? k : new KeychainSessionBackend(k)))
    return this.keychain
  }

  private async writeSettings(settings: Settings): Promise<void> {
    await mkdir(this.dir, {recursive: true, mode: 0o700})
    await writeFileAtomic(this.settingsPath, `${JSON.stringify(settings, null, 2)}\n`, 0o600)
  }
}

function preferenceFromEnv(): 'auto' | StoreKind {
  const value = process.env.TETHER_CREDENTIAL_STORE?.trim()
  if (!value || value === 'auto') return 'auto'
  if (value === 'file' || value === 'keychain') return value
  throw new UsageError(`TETHER_CREDENTIAL_STORE: "${value}" is not one of file, keychain, auto`)
}

function keychainUnavailable(error: unknown): UnavailableError {
  const reason = error instanceof Error ? error.message : String(error)
  return new UnavailableError(`the OS keychain is not available: ${reason}`, {
    cause: error,
    suggestions: ['Unlock the keyring (Secret Service), or set TETHER_CREDENTIAL_STORE=file to use a 0600 file.'],
  })
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    // Reported by the schema check as an invalid settings file.
    return null
  }
}
