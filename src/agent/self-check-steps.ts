import {X509Certificate, createPrivateKey} from 'node:crypto'
import {readFile, stat, statfs} from 'node:fs/promises'
import type tls from 'node:tls'
import {checkPorts} from '../checks/check-ports.js'
import {probeAllowFromEnv} from '../checks/probe-allow.js'
import {tetherProfile} from '../checks/profile-loader.js'
import {resolveProxy} from './runtime.js'
import {readAgentConfig} from './data-dir.js'
import type {SelfCheckContext, SelfCheckStep} from './self-check.js'
import {TlsWebSocketDialer, TransportError} from './transport.js'

const DAY_MS = 86_400_000
/** Certificates this close to expiry are a warning: there is time to re-enrol. */
const EXPIRY_WARN_DAYS = 30
/** Clock skew: a few seconds is normal; minutes break certificate checks and one-time codes. */
const SKEW_WARN_MS = 30_000
const SKEW_FAIL_MS = 300_000
/** Below this the agent cannot even spool a small bundle. */
const SPOOL_MIN_BYTES = 64 * 1024 * 1024

const mib = (n: number): string => `${Math.round(n / 1024 / 1024)} MiB`

const config: SelfCheckStep = {
  name: 'config',
  title: 'Configuration (agent.json)',
  needs: [],
  async run(ctx) {
    const c = await readAgentConfig(ctx.files)
    ctx.config = c
    ctx.proxy = await resolveProxy(c, {proxy: ctx.options.proxy, env: ctx.options.env}, ctx.files.proxySecrets)
    return {status: 'pass', detail: `valid; serial ${c.serial}, server ${c.server}, ${c.logSources.length} log source(s), jobs: ${c.acceptedJobKinds.join(', ') || 'none'}`}
  },
}

const certificate: SelfCheckStep = {
  name: 'certificate',
  title: 'Device certificate',
  needs: ['config'],
  async run(ctx) {
    const [certPem, keyPem] = await Promise.all([readFile(ctx.files.cert, 'utf8'), readFile(ctx.files.key, 'utf8')])
    const cert = new X509Certificate(certPem)
    const hint = 'Ask the support center for a token (`tether devices enroll-token`) and run `tether agent enroll --force --token TOKEN ...`.'
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return {status: 'fail', detail: 'device.key does not belong to device.crt', hint}
    const now = ctx.now()
    const from = Date.parse(cert.validFrom)
    const to = Date.parse(cert.validTo)
    const days = Math.floor((to - now) / DAY_MS)
    const subject = cert.subject.replace(/\n/g, ', ')
    if (now < from) return {status: 'fail', detail: `${subject}: not valid before ${new Date(from).toISOString()} (check the device clock)`}
    if (now > to) return {status: 'fail', detail: `${subject}: expired ${new Date(to).toISOString()}`, hint}
    const detail = `${subject}, valid until ${new Date(to).toISOString()} (${days} days)`
    return days < EXPIRY_WARN_DAYS ? {status: 'warn', detail, hint} : {status: 'pass', detail}
  },
}

/** DNS, TCP and the proxy's CONNECT answer, by the check-ports engine, on the route the agent uses. */
const route: SelfCheckStep = {
  name: 'route',
  title: 'Server reachable',
  needs: ['config'],
  async run(ctx) {
    const server = ctx.config!.server
    const profile = {...tetherProfile(server), tlsPorts: []}
    const result = await checkPorts({
      profile, target: 'dns', tlsPorts: [], map: new Map(), timeoutMs: ctx.timeoutMs, concurrency: 4, adaptive: false, dryRun: false, proxy: ctx.proxy, allow: probeAllowFromEnv(ctx.options.env),
    })
    const probe = result.probes[0]
    const via = ctx.proxy && probe.proxy ? `via proxy ${ctx.proxy.display}` : 'direct'
    ctx.route = via
    if (probe.verdict === 'pass' || probe.verdict === 'warn') {
      ctx.reachable = true
      return {status: probe.verdict, detail: `${new URL(server).host} ${via}: ${probe.proxy ? `CONNECT ${probe.proxy.statusCode ?? ''} ${probe.proxy.statusText ?? ''}`.trim() : `TCP ${probe.tcp.status}${probe.tcp.ms !== null ? ` in ${probe.tcp.ms}ms` : ''}`}`}
    }
    const hint = probe.proxy ? 'Ask the network team to allow CONNECT to the server on the proxy, or set another proxy: `tether agent config set proxy URL`.' : 'Check the firewall: `tether check ports --server ' + server + '` shows where it stops.'
    return {status: 'fail', detail: `${new URL(server).host} ${via}: ${probe.reasons.join('; ') || probe.verdict}`, hint}
  },
}

/** A handshake exactly as the agent makes it: device certificate, and only the pinned server CA trusted. */
const tlsPinned: SelfCheckStep = {
  name: 'tls',
  title: 'TLS to the server (pinned CA, not intercepted)',
  needs: ['certificate', 'route'],
  async run(ctx) {
    const c = ctx.config!
    const [key, cert, serverCa] = await Promise.all([ctx.files.key, ctx.files.cert, ctx.files.serverCa].map((p) => readFile(p, 'utf8')))
    const server = new URL(c.server)
    const dialer = new TlsWebSocketDialer({server, key, cert, serverCa, proxy: ctx.proxy, timeoutMs: ctx.timeoutMs})
    let socket: tls.TLSSocket
    try {
      socket = await dialer.connectTls()
    } catch (error) {
      if (error instanceof TransportError && error.kind === 'untrusted') {
        return {status: 'fail', detail: `the server's certificate is not signed by the pinned CA (server-ca.crt): ${error.message}`, hint: 'A TLS-inspecting proxy is re-signing the connection (exempt the server from inspection), or this is not the server the device enrolled with.'}
      }
      throw error
    }
    const peer = socket.getPeerCertificate()
    ctx.serverDate = await serverDate(socket, server, ctx)
    return {status: 'pass', detail: `${socket.getProtocol() ?? 'TLS'}, server certificate ${peer.subject?.CN ?? '?'} issued by ${peer.issuer?.CN ?? '?'} (the pinned CA)`}
  },
}

const clock: SelfCheckStep = {
  name: 'clock',
  title: 'Clock against the server',
  needs: ['tls'],
  async run(ctx) {
    const d = ctx.serverDate
    if (!d) return {status: 'warn', detail: 'the server sent no Date header'}
    // The Date header has one-second resolution: judge against the middle of the request, less that second.
    const skew = d.server - (d.sent + d.received) / 2
    const off = Math.max(0, Math.abs(skew) - 1000)
    const detail = off === 0 ? 'in step with the server (within 1 s)' : `${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'behind' : 'ahead of'} the server`
    const hint = 'Synchronise the device clock (NTP); certificates and one-time codes are checked against it.'
    if (off >= SKEW_FAIL_MS) return {status: 'fail', detail, hint}
    if (off >= SKEW_WARN_MS) return {status: 'warn', detail, hint}
    return {status: 'pass', detail}
  },
}

const spool: SelfCheckStep = {
  name: 'spool',
  title: 'Spool disk space',
  needs: ['config'],
  async run(ctx) {
    // The spool is made by the first collection; until then its volume is the data dir's.
    const where = (await stat(ctx.files.spool).then(() => true, () => false)) ? ctx.files.spool : ctx.files.dir
    const fs = await statfs(where)
    const free = Number(fs.bavail) * Number(fs.bsize)
    const max = ctx.config!.logs.maxBundleBytes
    const detail = `${mib(free)} free in ${where}; the largest bundle is ${mib(max)} (logs.maxBundleBytes)`
    if (free < SPOOL_MIN_BYTES) return {status: 'fail', detail, hint: 'Free disk space, or move the data dir (--data-dir) to a larger volume.'}
    if (free < max) return {status: 'warn', detail, hint: 'A log collection near the bound would fail: free space or lower it with `tether agent config set logs.maxBundleBytes BYTES`.'}
    return {status: 'pass', detail}
  },
}

/** The order the agent needs them in; `needs` skips what cannot be judged. */
export const SELF_CHECKS: SelfCheckStep[] = [config, certificate, route, tlsPinned, clock, spool]

/** GET /healthz over the verified socket, for the server's Date header. */
function serverDate(socket: tls.TLSSocket, server: URL, ctx: SelfCheckContext): Promise<{server: number; sent: number; received: number} | undefined> {
  return new Promise((resolve, reject) => {
    const sent = ctx.now()
    let head = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`the server sent no HTTP answer within ${ctx.timeoutMs}ms`))
    }, ctx.timeoutMs)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      head += chunk
      const end = head.indexOf('\r\n\r\n')
      if (end < 0 && head.length < 16_384) return
      clearTimeout(timer)
      socket.destroy()
      const date = /^date:\s*(.+)$/im.exec(head.slice(0, end < 0 ? undefined : end))
      const parsed = date ? Date.parse(date[1].trim()) : NaN
      resolve(Number.isNaN(parsed) ? undefined : {server: parsed, sent, received: ctx.now()})
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.write(`GET /healthz HTTP/1.1\r\nHost: ${server.host}\r\nConnection: close\r\nUser-Agent: tether-agent-check\r\n\r\n`)
  })
}
