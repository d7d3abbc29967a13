import {createHash} from 'node:crypto'
import type tls from 'node:tls'
import type WebSocket from 'ws'
import {readTextIfExists} from '../shared/optional-file.js'
import type {AgentFiles} from './data-dir.js'
import type {Dialer, TlsWebSocketDialer} from './transport.js'

/**
 * The dialer of a running agent, rebuilt whenever what it dials with changes on disk: the device
 * key and certificate (`agent enroll --force`), the pinned server CA, or the server and proxy in
 * agent.json (`agent config set proxy ...`). Each dial compares a hash of those inputs with the
 * one its dialer was built from; the agent's poll asks `changed()` so that a link made with the old
 * identity is replaced at once, instead of waiting out a revoked device's slow retry.
 */
export class ReloadingDialer implements Dialer {
  private current?: {key: string; dialer: TlsWebSocketDialer; server: URL}

  constructor(
    private readonly files: AgentFiles,
    private readonly build: () => Promise<{dialer: TlsWebSocketDialer; server: URL}>,
  ) {}

  /** Builds the first dialer now, so that configuration errors surface at start. */
  async init(): Promise<this> {
    await this.active()
    return this
  }

  async dial(): Promise<WebSocket> {
    return (await this.active()).dial()
  }

  async connectTls(options: {servername?: string} = {}): Promise<tls.TLSSocket> {
    return (await this.active()).connectTls(options)
  }

  /** The server the current dialer reaches (log uploads go to the same one). */
  server(): URL {
    if (!this.current) throw new Error('ReloadingDialer used before init()')
    return this.current.server
  }

  describeRoute(): string {
    return this.current?.dialer.describeRoute() ?? 'unknown'
  }

  /** True when the identity or route on disk is not the one the current dialer uses. */
  async changed(): Promise<boolean> {
    return this.current !== undefined && (await this.fingerprint()) !== this.current.key
  }

  private async active(): Promise<TlsWebSocketDialer> {
    const key = await this.fingerprint()
    if (!this.current || this.current.key !== key) this.current = {key, ...(await this.build())}
    return this.current.dialer
  }

  private async fingerprint(): Promise<string> {
    const {config, key, cert, serverCa} = this.files
    const [configText, ...pems] = await Promise.all([config, key, cert, serverCa].map((p) => readTextIfExists(p)))
    const hash = createHash('sha256')
    hash.update(JSON.stringify(routeOf(configText)))
    for (const pem of pems) hash.update(`\0${pem ?? ''}`)
    return hash.digest('hex')
  }
}

/** The agent.json fields the dialer is built from; other edits (log sources, scripts) do not redial. */
function routeOf(text: string | null): unknown {
  try {
    const c = JSON.parse(text ?? 'null') as Record<string, unknown> | null
    return c && [c.server, c.proxy, c.proxyPasswordStore, c.connectTimeoutMs]
  } catch {
    // Half-written or broken: the last good dialer stays until the file parses again.
    return 'unparsable'
  }
}
