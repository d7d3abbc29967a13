import {dataLegDialer} from './tunnels/data-leg.js'
import {readFile} from 'node:fs/promises'
import {parseProxyUrl, proxyFromSettings, type ProxyConfig} from '../shared/proxy-connect.js'
import {UsageError} from '../shared/errors.js'
import {DeviceAgent, type AgentLog} from './agent.js'
import {systemClock} from './clock.js'
import {agentFiles, readAgentConfig, type AgentConfig} from './data-dir.js'
import {ProxySecrets, proxyAccount} from './proxy-secret.js'
import {HttpsUploadApi} from './logs/upload-api.js'
import {ReloadingDialer} from './reloading-dialer.js'
import {UndiciUpdatesHttp} from './updates/http.js'
import {TlsWebSocketDialer} from './transport.js'

export interface StartOptions {
  dataDir: string
  /** --proxy for this run (overrides agent.json and the environment). */
  proxy?: string
  agentVersion: string
  log: AgentLog
  env?: NodeJS.ProcessEnv
}

/** Assembles a DeviceAgent from the data dir: config, key and certificates, proxy and its password. */
export async function createAgent(options: StartOptions): Promise<{agent: DeviceAgent; config: AgentConfig; route: string}> {
  const files = agentFiles(options.dataDir)
  const config = await readAgentConfig(files)
  const serverCa = await readPem(files.serverCa)
  const proxy = await resolveProxy(config, options, files.proxySecrets)
  // Re-read on every dial: a re-enrolment or a proxy change applies without a restart.
  const dialer = await new ReloadingDialer(files, async () => {
    const now = await readAgentConfig(files)
    const [key, cert, ca] = await Promise.all([files.key, files.cert, files.serverCa].map((p) => readPem(p)))
    const server = new URL(now.server)
    return {server, dialer: new TlsWebSocketDialer({server, key, cert, serverCa: ca, proxy: await resolveProxy(now, options, files.proxySecrets), timeoutMs: now.connectTimeoutMs})}
  }).init()
  const uploadApi = (): HttpsUploadApi => new HttpsUploadApi(dialer.server(), () => dialer.connectTls())
  const dataLeg = dataLegDialer(() => dialer.server(), (o) => dialer.connectTls(o), config.connectTimeoutMs)
  const agent = new DeviceAgent({
    config, files, dialer, clock: systemClock, log: options.log, agentVersion: options.agentVersion, proxyDisplay: proxy?.display ?? null, uploadApi, updatesHttp: () => new UndiciUpdatesHttp(dialer.server(), () => dialer.connectTls()), dataLeg, serverCa, proxy,
    routeChanged: () => dialer.changed(),
  })
  return {agent, config, route: dialer.describeRoute()}
}

/** What `tether agent logs upload` needs without a running agent: config, files and an upload connection. */
export async function createUploadContext(options: Pick<StartOptions, 'dataDir' | 'proxy' | 'env'>): Promise<{config: AgentConfig; files: ReturnType<typeof agentFiles>; uploadApi: () => HttpsUploadApi}> {
  const files = agentFiles(options.dataDir)
  const config = await readAgentConfig(files)
  const [key, cert, serverCa] = await Promise.all([files.key, files.cert, files.serverCa].map((p) => readPem(p)))
  const proxy = await resolveProxy(config, options, files.proxySecrets)
  const dialer = new TlsWebSocketDialer({server: new URL(config.server), key, cert, serverCa, proxy, timeoutMs: config.connectTimeoutMs})
  return {config, files, uploadApi: () => new HttpsUploadApi(new URL(config.server), () => dialer.connectTls())}
}

/** --proxy, else agent.json's proxy (password from the credential store), else HTTPS_PROXY/NO_PROXY. */
export async function resolveProxy(config: AgentConfig, options: Pick<StartOptions, 'proxy' | 'env'>, secretsPath: string): Promise<ProxyConfig | undefined> {
  const env = options.env ?? process.env
  if (options.proxy !== undefined || !config.proxy) return proxyFromSettings(options.proxy, env)
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
  const url = new URL(config.proxy)
  if (config.proxyPasswordStore && url.username) {
    const password = await new ProxySecrets({filePath: secretsPath}).load(proxyAccount(url), config.proxyPasswordStore)
    if (password === null) throw new UsageError(`agent.json: the password for proxy ${config.proxy} is missing from the ${config.proxyPasswordStore === 'file' ? 'proxy-credentials.json file' : 'OS keychain'}`, {suggestions: ['Run `tether agent enroll ... --proxy http://user:pass@host:port --force`, or pass --proxy to `tether agent start`.']})
    url.password = encodeURIComponent(password)
  }
  return parseProxyUrl(url.toString(), 'agent.json proxy', noProxy)
}

async function readPem(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as Error).message}`, {cause: error, suggestions: ['Enroll the agent again: `tether agent enroll --force ...`.']})
  }
}
