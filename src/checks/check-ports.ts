import type {Socket} from 'node:net'
import {isIP} from 'node:net'
import {endpointPorts, type EndpointPort, type Profile} from './endpoints.js'
import {BLOCKED_REASON, type ProbeAllowPolicy} from './probe-allow.js'
import {bypassesProxy, connectViaProxy, type ProxyConfig, type ProxyResult} from '../shared/proxy-connect.js'
import {mapDocumentedIp, resolveHost, type DnsResult, type HostMap, type LookupFn} from './resolver.js'
import {RttTracker, runBounded} from './scheduler.js'
import {probeTcp, type TcpResult} from './tcp-probe.js'
import {probeTls, type TlsResult} from './tls-probe.js'

export type TargetMode = 'ip' | 'dns' | 'both'
export type Verdict = 'pass' | 'warn' | 'fail' | 'blocked' | 'skipped'

/** One row of the result: one (host, port) at one address. Part of the --json contract. */
export interface PortProbe {
  host: string | null
  documentedIp: string | null
  port: number
  required: boolean
  /** The address the probe went to (through the proxy: the CONNECT target), null when none. */
  address: string | null
  /** Why that address: the documented IP, DNS, both agree, or --map. */
  addressSource: 'ip' | 'dns' | 'ip+dns' | 'map' | null
  tlsExpected: boolean
  dns: DnsResult
  tcp: TcpResult
  tls: TlsResult | null
  proxy: ProxyResult | null
  verdict: Verdict
  reasons: string[]
}

export interface CheckPortsSummary {
  total: number
  passed: number
  warned: number
  failed: number
  blocked: number
  /** Failures (or blocked) on endpoints the profile marks optional: shown, but not fatal. */
  optionalFailed: number
  skipped: number
}

/** `tether check ports --json`. Bump schemaVersion on any incompatible change. */
export interface CheckPortsResult {
  schemaVersion: 1
  profile: string
  target: TargetMode
  dryRun: boolean
  timeoutMs: number
  adaptive: boolean
  concurrency: number
  tlsPorts: number[]
  proxy: string | null
  probeAllow: string[] | null
  startedAt: string
  durationMs: number
  /** True when every required endpoint passed (warnings allowed): exit code 0. */
  ok: boolean
  summary: CheckPortsSummary
  probes: PortProbe[]
  /** What loading the profile ignored (unknown table columns, lines above the header). */
  warnings: string[]
}

export interface CheckPortsOptions {
  profile: Profile
  target: TargetMode
  tlsPorts: number[]
  map: HostMap
  timeoutMs: number
  concurrency: number
  adaptive: boolean
  dryRun: boolean
  proxy?: ProxyConfig
  allow?: ProbeAllowPolicy
  extraCa?: string[]
  lookup?: LookupFn
  onProgress?: (done: number, total: number) => void
}

interface Plan {
  pair: EndpointPort
  dns: DnsResult
  address: string | null
  addressSource: PortProbe['addressSource']
  tlsExpected: boolean
  /** Set when the probe must not be sent; the reason. */
  refuse?: {verdict: Verdict; reason: string}
  proxyAddress?: string
}

export async function checkPorts(options: CheckPortsOptions): Promise<CheckPortsResult> {
  const started = Date.now()
  const startedAt = new Date(started).toISOString()
  const pairs = endpointPorts(options.profile)
  const tlsPorts = new Set([...options.tlsPorts, ...(options.profile.tlsPorts ?? [])])

  const hosts = [...new Map(pairs.map((p) => [(p.host ?? '').toLowerCase(), p])).values()]
  const dnsByHost = new Map<string, DnsResult>()
  const resolved = await runBounded(hosts, options.concurrency, (p) => resolveHost(p.host, p.ip, {map: options.map, allow: options.allow, timeoutMs: options.timeoutMs, dryRun: options.dryRun, lookup: options.lookup}))
  hosts.forEach((p, i) => dnsByHost.set((p.host ?? '').toLowerCase(), resolved[i]))

  const proxyAddress = options.proxy ? proxyAddressFor(options.proxy, options.map) : undefined
  const plans = pairs.flatMap((pair) => planPair(pair, dnsByHost.get((pair.host ?? '').toLowerCase())!, tlsPorts.has(pair.port), proxyAddress, options))

  const tracker = new RttTracker(options.timeoutMs, options.adaptive)
  let done = 0
  const probes = await runBounded(plans, options.concurrency, async (plan) => {
    const probe = await runPlan(plan, tracker, options)
    options.onProgress?.(++done, plans.length)
    return probe
  })
  return {
    schemaVersion: 1,
    profile: options.profile.name,
    target: options.target,
    dryRun: options.dryRun,
    timeoutMs: options.timeoutMs,
    adaptive: options.adaptive,
    concurrency: options.concurrency,
    tlsPorts: [...tlsPorts].sort((a, b) => a - b),
    proxy: options.proxy?.display ?? null,
    probeAllow: options.allow?.cidrs ?? null,
    startedAt,
    durationMs: Date.now() - started,
    ok: probes.every((p) => !p.required || p.verdict === 'pass' || p.verdict === 'warn' || p.verdict === 'skipped'),
    summary: summarize(probes),
    probes,
    warnings: options.profile.warnings ?? [],
  }
}

function proxyAddressFor(proxy: ProxyConfig, map: HostMap): string | undefined {
  if (isIP(proxy.host)) return proxy.host
  return map.get(proxy.host.toLowerCase())
}

function planPair(pair: EndpointPort, dns: DnsResult, tlsExpected: boolean, proxyAddress: string | undefined, options: CheckPortsOptions): Plan[] {
  const base = {pair, dns, tlsExpected}
  const documented = pair.ip ? {address: mapDocumentedIp(pair.ip, options.map), source: options.map.has(pair.ip) ? ('map' as const) : ('ip' as const)} : undefined
  const fromDns = dns.addresses[0] ? {address: dns.addresses[0], source: dns.status === 'mapped' ? ('map' as const) : ('dns' as const)} : undefined
  const proxied = options.proxy !== undefined && !bypassesProxy(pair.host ?? pair.ip ?? '', pair.port, options.proxy.noProxy) && !(pair.ip && bypassesProxy(pair.ip, pair.port, options.proxy.noProxy))

  let candidates: Array<{address: string; source: PortProbe['addressSource']}> = []
  if (proxied && options.target !== 'ip' && pair.host && dns.status !== 'mapped') {
    // Through a proxy the proxy resolves the name; we only send the name when no allow-list forbids it.
    candidates = [{address: pair.host, source: 'dns'}]
  } else if (options.target === 'ip') candidates = documented ? [documented] : fromDns ? [fromDns] : []
  else if (options.target === 'dns') candidates = fromDns ? [fromDns] : documented && !pair.host ? [documented] : []
  else {
    candidates = [documented, fromDns].filter((c): c is NonNullable<typeof c> => c !== undefined)
    if (candidates.length === 2 && candidates[0].address === candidates[1].address) candidates = [{address: candidates[0].address, source: candidates[1].source === 'map' ? 'map' : 'ip+dns'}]
  }

  if (candidates.length === 0) {
    const notAllowed = dns.status === 'skipped' && options.allow !== undefined
    const reason = options.dryRun ? 'would resolve the hostname' : notAllowed ? `${BLOCKED_REASON} (hostname not resolved; use --map)` : `no address to probe: DNS ${dns.status}${dns.note ? ` (${dns.note})` : ''}`
    return [{...base, address: null, addressSource: null, refuse: {verdict: options.dryRun ? 'skipped' : notAllowed ? 'blocked' : 'fail', reason}}]
  }
  return candidates.map((c) => {
    const plan: Plan = {...base, address: c.address, addressSource: c.source}
    if (proxied) plan.proxyAddress = proxyAddress ?? options.proxy!.host
    if (options.dryRun) plan.refuse = {verdict: 'skipped', reason: 'dry run: nothing sent'}
    else if (options.allow) {
      const outside = [c.address, ...(proxied ? [plan.proxyAddress!] : [])].find((a) => !options.allow!.allows(a))
      if (outside) plan.refuse = {verdict: 'blocked', reason: `${BLOCKED_REASON}: ${outside}`}
    }
    return plan
  })
}

async function runPlan(plan: Plan, tracker: RttTracker, options: CheckPortsOptions): Promise<PortProbe> {
  const {pair} = plan
  const row = {
    host: pair.host ?? null, documentedIp: pair.ip ?? null, port: pair.port, required: pair.required,
    address: plan.address, addressSource: plan.addressSource, tlsExpected: plan.tlsExpected, dns: plan.dns,
  }
  if (plan.refuse) {
    const status = plan.refuse.verdict === 'blocked' ? 'blocked' : 'skipped'
    return {...row, tcp: {status, ms: null}, tls: null, proxy: null, verdict: plan.refuse.verdict, reasons: [plan.refuse.reason]}
  }

  let tcp: TcpResult
  let proxy: ProxyResult | null = null
  let socket: Socket | undefined
  if (plan.proxyAddress !== undefined) {
    const via = await connectViaProxy(options.proxy!, plan.proxyAddress, plan.address!, pair.port, options.timeoutMs)
    proxy = via.result
    socket = via.socket
    tcp = proxy.status === 'tunnel' ? {status: 'open', ms: proxy.ms} : {status: 'skipped', ms: null}
    if (socket && !plan.tlsExpected) socket.destroy()
  } else {
    const direct = await probeTcp(plan.address!, pair.port, {tracker, keepSocket: plan.tlsExpected})
    tcp = direct.result
    socket = direct.socket
  }

  let tls: TlsResult | null = null
  if (plan.tlsExpected && socket) {
    tls = await probeTls(socket, {host: pair.host, ip: pair.ip, timeoutMs: options.timeoutMs, extraCa: options.extraCa, expectedIssuers: pair.expectedIssuers})
    socket.destroy()
  }
  const {verdict, reasons} = judge(plan, tcp, tls, proxy)
  return {...row, tcp, tls, proxy, verdict, reasons}
}

function judge(plan: Plan, tcp: TcpResult, tls: TlsResult | null, proxy: ProxyResult | null): {verdict: Verdict; reasons: string[]} {
  const failures: string[] = []
  const warnings: string[] = []
  if (proxy && proxy.status !== 'tunnel') {
    const answer = proxy.statusCode ? `${proxy.statusCode} ${proxy.statusText ?? ''}`.trim() : proxy.error ?? proxy.status
    const why = proxy.status === 'refused' ? ' (the proxy policy blocks it, not the firewall)' : proxy.status === 'auth-required' ? ' (proxy credentials missing or wrong)' : proxy.status === 'upstream-failed' ? ' (the proxy could not reach it)' : ''
    failures.push(`proxy: ${answer}${why}`)
  } else if (tcp.status !== 'open') {
    failures.push(`tcp ${tcp.status}${tcp.error && tcp.status !== 'unreachable' ? ` (${tcp.error})` : ''}`)
  }
  if (tls) for (const p of tls.problems) (tls.status === 'failed' && !p.startsWith('expires in') ? failures : warnings).push(`tls: ${p}`)
  if (plan.dns.status === 'mismatch') warnings.push(`dns: ${plan.pair.host} resolves to ${plan.dns.addresses.join(', ')}, not the documented ${plan.pair.ip} (split DNS or moved server?)`)
  if (plan.dns.status === 'failed' && failures.length === 0) warnings.push(`dns: ${plan.pair.host} did not resolve (${plan.dns.note}); the device needs the name`)
  if (failures.length > 0) return {verdict: 'fail', reasons: [...failures, ...warnings]}
  return {verdict: warnings.length > 0 ? 'warn' : 'pass', reasons: warnings}
}

function summarize(probes: PortProbe[]): CheckPortsSummary {
  const count = (v: Verdict): number => probes.filter((p) => p.verdict === v).length
  return {
    total: probes.length,
    passed: count('pass'),
    warned: count('warn'),
    failed: count('fail'),
    blocked: count('blocked'),
    optionalFailed: probes.filter((p) => !p.required && (p.verdict === 'fail' || p.verdict === 'blocked')).length,
    skipped: count('skipped'),
  }
}
