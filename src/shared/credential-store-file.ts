import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'
import {z} from 'zod'
import {writeFileAtomic} from './atomic-file.js'
import {UsageError} from './errors.js'
import {readTextIfExists} from './optional-file.js'

/** One admin session: everything needed to call a server as a user. Secret (tokens). */
export const StoredSession = z.object({
  server: z.string(),
  username: z.string(),
  /** PEM of the trust anchor (the --ca file, or the certificate a --fingerprint pinned). */
  ca: z.string().optional(),
  fingerprint: z.string().optional(),
  accessToken: z.string(),
  refreshToken: z.string(),
  savedAt: z.string(),
})
export type StoredSession = z.infer<typeof StoredSession>

/** Where sessions are kept: the OS keychain, or a 0600 file when there is none. */
export interface SessionBackend {
  readonly kind: 'keychain' | 'file'
  /** Human text for "stored in …". */
  readonly location: string
  load(server: string): Promise<StoredSession | null>
  save(session: StoredSession): Promise<void>
  /** true when something was deleted. */
  remove(server: string): Promise<boolean>
}

const CredentialsFile = z.object({version: z.literal(1), sessions: z.record(z.string(), StoredSession)})
type CredentialsFile = z.infer<typeof CredentialsFile>

/** credentials.json in the config dir, mode 0600, replaced atomically on every change. */
export class FileSessionBackend implements SessionBackend {
  readonly kind = 'file' as const
  readonly path: string

  constructor(readonly dir: string) {
    this.path = join(dir, 'credentials.json')
  }

  get location(): string {
    return `${this.path} (0600; no OS keychain available)`
  }

  async load(server: string): Promise<StoredSession | null> {
    return (await this.read()).sessions[server] ?? null
  }

  async save(session: StoredSession): Promise<void> {
    const file = await this.read()
    file.sessions[session.server] = session
    await this.write(file)
  }

  async remove(server: string): Promise<boolean> {
    const file = await this.read()
    if (!file.sessions[server]) return false
    delete file.sessions[server]
    await this.write(file)
    return true
  }

  private async read(): Promise<CredentialsFile> {
    const text = await readTextIfExists(this.path)
    if (text === null) return {version: 1, sessions: {}}
    let parsed: CredentialsFile
    try {
      parsed = CredentialsFile.parse(JSON.parse(text))
    } catch (error) {
      throw new UsageError(`${this.path} is not a valid credentials file; delete it and run \`tether login\` again`, {cause: error})
    }
    return parsed
  }

  private async write(file: CredentialsFile): Promise<void> {
    await mkdir(this.dir, {recursive: true, mode: 0o700})
    await writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`, 0o600)
  }
}
