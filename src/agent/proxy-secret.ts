import {mkdir} from 'node:fs/promises'
import {dirname} from 'node:path'
import {z} from 'zod'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {loadKeytar, type KeytarLike} from '../shared/credential-store-keytar.js'
import {UnavailableError} from '../shared/errors.js'
import {readTextIfExists} from '../shared/optional-file.js'

/**
 * The proxy password never goes into agent.json: it lives in the OS keychain (keytar, service
 * "tether-agent-proxy", account = "user@host:port") when a Secret Service answers, else in a
 * 0600 proxy-credentials.json in the agent data dir. agent.json records which one holds it.
 * TETHER_CREDENTIAL_STORE=file|keychain forces a backend, as for the admin CLI.
 */
export const PROXY_KEYCHAIN_SERVICE = 'tether-agent-proxy'

const SecretsFile = z.object({version: z.literal(1), passwords: z.record(z.string(), z.string())})

export type SecretStoreKind = 'keychain' | 'file'

export interface ProxySecretOptions {
  filePath: string
  keytar?: () => Promise<KeytarLike | Error>
  prefer?: string
}

export class ProxySecrets {
  private readonly keytarLoader: () => Promise<KeytarLike | Error>
  private readonly prefer: string

  constructor(private readonly options: ProxySecretOptions) {
    this.keytarLoader = options.keytar ?? loadKeytar
    this.prefer = options.prefer ?? process.env.TETHER_CREDENTIAL_STORE ?? 'auto'
  }

  async save(account: string, password: string): Promise<SecretStoreKind> {
    if (this.prefer !== 'file') {
      const keytar = await this.keytarLoader()
      if (!(keytar instanceof Error)) {
        try {
          await withDeadline(keytar.setPassword(PROXY_KEYCHAIN_SERVICE, account, password))
          return 'keychain'
        } catch (error) {
          if (this.prefer === 'keychain') throw new UnavailableError(`the OS keychain is not available: ${(error as Error).message}`, {cause: error})
        }
      } else if (this.prefer === 'keychain') {
        throw new UnavailableError(`the OS keychain is not available: ${keytar.message}`)
      }
    }
    const file = await this.readFile()
    file.passwords[account] = password
    await mkdir(dirname(this.options.filePath), {recursive: true, mode: 0o700})
    await writeFileAtomic(this.options.filePath, `${JSON.stringify(file, null, 2)}\n`, 0o600)
    return 'file'
  }

  async load(account: string, store: SecretStoreKind): Promise<string | null> {
    if (store === 'file') return (await this.readFile()).passwords[account] ?? null
    const keytar = await this.keytarLoader()
    if (keytar instanceof Error) throw new UnavailableError(`the proxy password is in the OS keychain, which is not available: ${keytar.message}`)
    return withDeadline(keytar.getPassword(PROXY_KEYCHAIN_SERVICE, account))
  }

  private async readFile(): Promise<z.infer<typeof SecretsFile>> {
    const text = await readTextIfExists(this.options.filePath)
    if (text === null) return {version: 1, passwords: {}}
    return SecretsFile.parse(JSON.parse(text))
  }
}

/** "user@host:port" — the key a proxy password is stored under. */
export function proxyAccount(url: URL): string {
  return `${decodeURIComponent(url.username)}@${url.host}`
}

/** Splits a proxy URL into the part for agent.json (no password) and the password. */
export function splitProxyUrl(text: string): {url: string; password: string | null; account: string | null} {
  const url = new URL(text.includes('://') ? text : `http://${text}`)
  const password = url.password ? decodeURIComponent(url.password) : null
  url.password = ''
  return {url: url.toString().replace(/\/$/, ''), password, account: url.username ? proxyAccount(url) : null}
}

function withDeadline<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the OS keychain did not answer within ${ms}ms`)), ms)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
