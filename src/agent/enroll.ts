import {access, mkdir} from 'node:fs/promises'
import {Agent, ProxyAgent, request, type Dispatcher} from 'undici'
import {AGENT_ENROLL_PATH, AgentEnrollResponse, type AgentEnrollRequest, serialFromEnrollToken} from '../protocol/agent/index.js'
import {errorFromNetwork, errorFromResponse} from '../client/http-errors.js'
import {connectOptions, fetchPinnedCertificate, type Trust} from '../client/trust.js'
import {bypassesProxy, type ProxyConfig} from '../shared/proxy-connect.js'
import {generateKeyPair, privateKeyToPem, SIGNING_ALGORITHM, x509} from '../shared/x509.js'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {AuthError, ConflictError, OperationFailedError, UnavailableError, UsageError} from '../shared/errors.js'
import {AgentConfig, agentFiles, readAgentConfig, writeAgentConfig, type AgentFiles} from './data-dir.js'
import {EventRecorder} from './events.js'
import {checkUpdateRoot, installUpdateRoot, withUpdatesAllowed} from './updates/enroll-settings.js'
import {ProxySecrets, splitProxyUrl} from './proxy-secret.js'

export interface EnrollOptions {
  dataDir: string
  server: string
  token: string
  /** Defaults to the serial the token was issued for; if given, it must match. */
  serial?: string
  model?: string
  /** PEM of the server CA (--ca), or a SHA-256 pin (--fingerprint); neither = the system store. */
  caPem?: string
  fingerprint?: string
  /** Proxy as given (may hold user:password); the password is moved to the credential store. */
  proxy?: ProxyConfig & {url: string}
  /** The proxy to enroll through (--proxy or HTTPS_PROXY), when different from the one to remember. */
  proxyForEnroll?: ProxyConfig
  force?: boolean
  /** Extra agent.json settings (e.g. allowed tunnel ports). */
  settings?: Partial<AgentConfig>
  /** --allow-updates: updates.allowed, and 'updates' among the accepted job kinds. */
  allowUpdates?: boolean
  /** --update-root: the TUF root.json baked into the image (its bytes), the trust anchor for updates. */
  updateRoot?: {path: string; bytes: Buffer}
}

export interface EnrollResult {
  serial: string
  server: string
  dataDir: string
  certificateFingerprint: string
  proxy: string | null
  proxyPasswordStore: 'keychain' | 'file' | null
  /** The model the registry holds for this device (reported in the inventory). */
  model: string | null
  /** True when a re-enrolment kept the settings of the agent.json it replaced. */
  settingsKept: boolean
}

/** The identity to request: the token's serial, cross-checked against --serial when given. */
export function serialToEnroll(token: string, given: string | undefined): string {
  const fromToken = serialFromEnrollToken(token)
  if (fromToken && given && given !== fromToken) {
    throw new UsageError(`--serial: ${given} does not match the serial this token was issued for (${fromToken})`)
  }
  const serial = given ?? fromToken
  if (!serial) throw new UsageError('--token: not a Tether enrollment token (tet_enr_…); pass --serial if your token has another format')
  return serial
}

/** Builds a PKCS#10 request for CN=serial with a P-256 key generated here; the key never leaves the device. */
export async function createCsr(serial: string): Promise<{csrPem: string; keyPem: string}> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(serial)) throw new UsageError('--serial: use letters, digits, ".", "_" and "-" (at most 128)')
  const keys = await generateKeyPair()
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({name: [{CN: [serial]}], keys, signingAlgorithm: SIGNING_ALGORITHM})
  return {csrPem: csr.toString('pem'), keyPem: await privateKeyToPem(keys.privateKey)}
}

/** `tether agent enroll`: key + CSR here, POST with the one-time token, store what comes back. */
export async function enrollAgent(options: EnrollOptions): Promise<EnrollResult> {
  const files = agentFiles(options.dataDir)
  if (!options.force && (await exists(files.config))) {
    throw new ConflictError(`${options.dataDir} already holds an enrolled agent`, {suggestions: ['Pass --force to enroll again (a new key and certificate), or use another --data-dir.']})
  }
  const server = new URL(options.server)
  if (server.protocol !== 'https:') throw new UsageError('--server: use an https:// URL')
  const trust: Trust = options.caPem ? {ca: options.caPem} : {}
  if (options.fingerprint) trust.ca = await fetchPinnedCertificate(server.origin, options.fingerprint)

  // Checked before anything is sent: a bad root file must not cost the one-time token.
  if (options.updateRoot) checkUpdateRoot(options.updateRoot)
  const {csrPem, keyPem} = await createCsr(serialToEnroll(options.token, options.serial))
  const body: AgentEnrollRequest = {token: options.token, csr: csrPem}
  const answer = await post(server, body, trust, options.proxyForEnroll ?? options.proxy)

  await mkdir(files.dir, {recursive: true, mode: 0o700})
  await writeFileAtomic(files.key, keyPem, 0o600)
  await writeFileAtomic(files.cert, answer.certificate, 0o644)
  await writeFileAtomic(files.deviceCa, answer.caChain, 0o644)
  await writeFileAtomic(files.serverCa, answer.serverCa, 0o644)

  // A re-enrolment changes the identity only: the customer's settings (log sources, scripts,
  // tunnel ports, proxy) stay unless this command names new ones.
  const kept = options.force ? await keptSettings(files) : undefined
  let proxyUrl: string | null = kept?.proxy ?? null
  let proxyPasswordStore: 'keychain' | 'file' | null = kept?.proxyPasswordStore ?? null
  if (options.proxy) {
    const split = splitProxyUrl(options.proxy.url)
    proxyUrl = split.url
    proxyPasswordStore = split.password !== null && split.account ? await new ProxySecrets({filePath: files.proxySecrets}).save(split.account, split.password) : null
  }
  const model = answer.model ?? options.model ?? kept?.model
  const settings = options.allowUpdates ? withUpdatesAllowed({...kept, ...options.settings}) : options.settings
  const config = AgentConfig.parse({
    ...kept,
    ...settings,
    version: 1,
    server: server.origin,
    serial: answer.serial,
    ...(model ? {model} : {}),
    proxy: proxyUrl,
    proxyPasswordStore,
  })
  await writeAgentConfig(files, config)
  if (options.updateRoot) await installUpdateRoot(files, options.updateRoot.bytes)
  await new EventRecorder(files).record({action: 'agent.enrolled', outcome: 'success', actor: localActor(), details: {server: server.origin, serial: answer.serial, certificateFingerprint: answer.fingerprint, settingsKept: kept !== undefined, ...(options.updateRoot ? {updateRoot: 'image'} : {})}}, {forServer: false})
  return {serial: answer.serial, server: server.origin, dataDir: files.dir, certificateFingerprint: answer.fingerprint, proxy: proxyUrl, proxyPasswordStore, model: model ?? null, settingsKept: kept !== undefined}
}

async function post(server: URL, body: AgentEnrollRequest, trust: Trust, proxy: ProxyConfig | undefined): Promise<AgentEnrollResponse> {
  const tlsOptions = connectOptions(trust)
  const port = Number(server.port || 443)
  const dispatcher: Dispatcher =
    proxy && !bypassesProxy(server.hostname, port, proxy.noProxy)
      ? new ProxyAgent({uri: `http://${proxy.host.includes(':') ? `[${proxy.host}]` : proxy.host}:${proxy.port}`, ...(proxy.authorization ? {token: proxy.authorization} : {}), requestTls: tlsOptions})
      : new Agent({connect: tlsOptions})
  try {
    let res: Dispatcher.ResponseData
    try {
      res = await request(new URL(AGENT_ENROLL_PATH, server), {
        method: 'POST',
        dispatcher,
        headers: {'content-type': 'application/json'},
        body: JSON.stringify(body),
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      })
    } catch (error) {
      const refused = /Proxy response \((\d+)\)/.exec((error as Error).message)
      if (refused) throw new UnavailableError(`proxy refused CONNECT: ${refused[1]}${refused[1] === '407' || refused[1] === '401' ? ' (check the proxy user and password)' : ''}`, {cause: error})
      throw errorFromNetwork(server.origin, error)
    }
    const text = await res.body.text()
    let json: unknown = null
    try {
      json = JSON.parse(text)
    } catch {
      json = null
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      // Loose: a newer server may add fields (as `model` was added); what this agent needs is still checked.
      const parsed = AgentEnrollResponse.loose().safeParse(json)
      if (!parsed.success) throw new OperationFailedError(`${server.origin} answered the enrollment with an unexpected document`)
      return parsed.data
    }
    const message = (json as {error?: {message?: string}} | null)?.error?.message ?? `HTTP ${res.statusCode}`
    if (res.statusCode === 401) throw new AuthError(`enrollment refused: ${message}`, {code: 'ENROLL_TOKEN_INVALID', suggestions: ['Enrollment tokens work once. Ask the support center for a new one (`tether devices enroll-token`).']})
    if (res.statusCode === 410) throw new AuthError(`enrollment refused: the token has expired (${message})`, {code: 'ENROLL_TOKEN_EXPIRED', suggestions: ['Ask the support center for a new token.']})
    throw errorFromResponse(res.statusCode, json, res.headers)
  } finally {
    await dispatcher.close()
  }
}

export function localActor(): string {
  return `local:${process.env.SUDO_USER || process.env.USER || process.env.LOGNAME || `uid ${process.getuid?.() ?? '?'}`}`
}

/** The settings of the enrolment being replaced; undefined when there is none or it does not parse (then defaults apply). */
async function keptSettings(files: AgentFiles): Promise<AgentConfig | undefined> {
  if (!(await exists(files.config))) return undefined
  try {
    return await readAgentConfig(files)
  } catch (error) {
    if (error instanceof UsageError) return undefined
    throw error
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
