import {lookup as dnsLookup} from 'node:dns/promises'
import {isIP} from 'node:net'
import {UsageError} from '../shared/errors.js'
import type {ProbeAllowPolicy} from './probe-allow.js'

export type DnsStatus = 'ok' | 'mismatch' | 'mapped' | 'failed' | 'skipped' | 'none'

/** The DNS column: what the hostname resolves to and whether the documented IP is among it. */
export interface DnsResult {
  status: DnsStatus
  addresses: string[]
  /** null when there is nothing to compare (no hostname, no documented IP, mapped, skipped). */
  matchesDocumented: boolean | null
  note?: string
}

export type HostMap = ReadonlyMap<string, string>
export type LookupFn = (host: string) => Promise<string[]>

/** Parses repeated --map HOST=IP. Keys are hostnames (any case) or documented IPs. */
export function parseHostMap(entries: readonly string[] = []): Map<string, string> {
  const map = new Map<string, string>()
  for (const entry of entries) {
    const eq = entry.indexOf('=')
    const key = eq > 0 ? entry.slice(0, eq).trim().toLowerCase() : ''
    const ip = eq > 0 ? entry.slice(eq + 1).trim() : ''
    if (!key || isIP(ip) === 0) throw new UsageError(`--map: "${entry}" must be HOST=IP, e.g. medrad.axeda.com=127.0.0.2`)
    map.set(key, ip)
  }
  return map
}

export const systemLookup: LookupFn = async (host) => {
  const results = await dnsLookup(host, {all: true})
  return results.map((r) => r.address)
}

export interface ResolveOptions {
  map: HostMap
  allow?: ProbeAllowPolicy
  timeoutMs: number
  dryRun?: boolean
  lookup?: LookupFn
}

/** Resolves like the device would (getaddrinfo: hosts file, then DNS), unless mapped or not allowed. */
export async function resolveHost(host: string | undefined, documentedIp: string | undefined, options: ResolveOptions): Promise<DnsResult> {
  if (!host) return {status: 'none', addresses: [], matchesDocumented: null}
  const mapped = options.map.get(host.toLowerCase())
  if (mapped) return {status: 'mapped', addresses: [mapped], matchesDocumented: null, note: '--map'}
  if (isIP(host)) return {status: 'none', addresses: [host], matchesDocumented: null}
  if (options.dryRun) return {status: 'skipped', addresses: [], matchesDocumented: null, note: 'dry run'}
  if (options.allow) return {status: 'skipped', addresses: [], matchesDocumented: null, note: 'not allowed by TETHER_PROBE_ALLOW'}

  const lookup = options.lookup ?? systemLookup
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${options.timeoutMs}ms`), {code: 'ETIMEOUT'})), options.timeoutMs)
  })
  try {
    const addresses = await Promise.race([lookup(host), timeout])
    const matchesDocumented = documentedIp ? addresses.includes(documentedIp) : null
    return {status: matchesDocumented === false ? 'mismatch' : 'ok', addresses, matchesDocumented}
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    const note = e.code === 'ENOTFOUND' ? 'no such host' : e.code === 'ETIMEOUT' ? e.message : (e.code ?? e.message)
    return {status: 'failed', addresses: [], matchesDocumented: null, note}
  } finally {
    clearTimeout(timer)
  }
}

/** The address a documented IP is probed at: itself, unless --map rewrites it (tests, NAT). */
export function mapDocumentedIp(ip: string, map: HostMap): string {
  return map.get(ip.toLowerCase()) ?? ip
}
