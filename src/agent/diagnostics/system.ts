import {statfs} from 'node:fs/promises'
import {arch, cpus, freemem, hostname, loadavg, networkInterfaces, platform, release, totalmem, type as osType, uptime, version} from 'node:os'
import {readTextIfExists} from '../../shared/optional-file.js'

/**
 * The built-in diagnostics that read the machine itself: plain data from node:os and /proc,
 * bounded in size, no external commands. Where /proc is missing (not Linux) the field is null
 * rather than the diagnostic failing.
 */

export async function systemInfo(agent: {serial: string; model?: string; agentVersion: string}): Promise<Record<string, unknown>> {
  const cpuList = cpus()
  return {
    hostname: hostname(),
    platform: platform(),
    osType: osType(),
    release: release(),
    version: version(),
    arch: arch(),
    osRelease: await osReleaseInfo(),
    cpu: {model: cpuList[0]?.model ?? null, count: cpuList.length},
    nodeVersion: process.version,
    agent: {serial: agent.serial, model: agent.model ?? null, version: agent.agentVersion, pid: process.pid},
  }
}

async function osReleaseInfo(): Promise<Record<string, string> | null> {
  const text = await readTextIfExists('/etc/os-release')
  if (text === null) return null
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim())
    if (m && ['NAME', 'ID', 'VERSION_ID', 'PRETTY_NAME'].includes(m[1])) out[m[1]] = m[2].replace(/^"|"$/g, '')
  }
  return out
}

const PSEUDO_FS = new Set(['proc', 'sysfs', 'devpts', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs', 'pstore', 'bpf', 'mqueue', 'hugetlbfs', 'configfs', 'fusectl', 'autofs', 'binfmt_misc', 'nsfs', 'rpc_pipefs', 'devtmpfs', 'efivarfs', 'selinuxfs'])

export interface DiskUsage {
  mount: string
  fsType: string | null
  device: string | null
  totalBytes: number
  usedBytes: number
  availableBytes: number
  usedPercent: number
}

/** statfs of every real mount (from /proc/mounts), plus the agent's data dir; at most 64 rows. */
export async function diskUsage(extraPaths: string[] = []): Promise<{filesystems: DiskUsage[]}> {
  const mounts: {mount: string; fsType: string | null; device: string | null}[] = []
  const text = await readTextIfExists('/proc/mounts')
  for (const line of (text ?? '').split('\n')) {
    const [device, mount, fsType] = line.split(' ')
    if (!mount || PSEUDO_FS.has(fsType)) continue
    mounts.push({mount: mount.replace(/\\040/g, ' '), fsType, device})
  }
  if (mounts.length === 0) mounts.push({mount: '/', fsType: null, device: null})
  for (const path of extraPaths) if (!mounts.some((m) => m.mount === path)) mounts.push({mount: path, fsType: null, device: null})
  const rows: DiskUsage[] = []
  for (const m of mounts.slice(0, 64)) {
    try {
      const s = await statfs(m.mount)
      const total = s.blocks * s.bsize
      if (total === 0) continue
      const free = s.bfree * s.bsize
      const available = s.bavail * s.bsize
      rows.push({...m, totalBytes: total, usedBytes: total - free, availableBytes: available, usedPercent: Math.round(((total - free) / total) * 1000) / 10})
    } catch {
      // A mount that vanished or is not readable by the agent's user is left out, not fatal.
      continue
    }
  }
  return {filesystems: rows}
}

export async function memory(): Promise<Record<string, unknown>> {
  const meminfo: Record<string, number> = {}
  for (const line of ((await readTextIfExists('/proc/meminfo')) ?? '').split('\n')) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim())
    if (m && ['MemTotal', 'MemFree', 'MemAvailable', 'Buffers', 'Cached', 'SwapTotal', 'SwapFree'].includes(m[1])) meminfo[m[1]] = Number(m[2]) * 1024
  }
  const usage = process.memoryUsage()
  return {
    totalBytes: totalmem(),
    freeBytes: freemem(),
    availableBytes: meminfo.MemAvailable ?? null,
    swapTotalBytes: meminfo.SwapTotal ?? null,
    swapFreeBytes: meminfo.SwapFree ?? null,
    meminfo: Object.keys(meminfo).length > 0 ? meminfo : null,
    agentProcess: {rssBytes: usage.rss, heapUsedBytes: usage.heapUsed},
  }
}

export function uptimeLoad(): Record<string, unknown> {
  const [one, five, fifteen] = loadavg()
  return {
    uptimeSeconds: Math.floor(uptime()),
    bootTime: new Date(Date.now() - uptime() * 1000).toISOString(),
    loadAverage: {'1m': one, '5m': five, '15m': fifteen},
    cpuCount: cpus().length,
    agentUptimeSeconds: Math.floor(process.uptime()),
  }
}

export interface Route {
  family: 'ipv4' | 'ipv6'
  interface: string
  destination: string
  prefixLength: number
  gateway: string | null
  metric: number
}

/** Interfaces from node:os; routes from /proc/net/route and /proc/net/ipv6_route (Linux). */
export async function network(): Promise<{interfaces: Record<string, unknown>[]; routes: Route[] | null; defaultGateway: string | null}> {
  const interfaces = Object.entries(networkInterfaces()).map(([name, list]) => ({
    name,
    mac: list?.[0]?.mac ?? null,
    internal: list?.[0]?.internal ?? false,
    addresses: (list ?? []).map((a) => ({family: a.family, address: a.address, cidr: a.cidr})),
  }))
  const v4 = await readTextIfExists('/proc/net/route')
  const v6 = await readTextIfExists('/proc/net/ipv6_route')
  const routes = v4 === null && v6 === null ? null : [...parseRoutes(v4 ?? ''), ...parseIpv6Routes(v6 ?? '')].slice(0, 256)
  const def = routes?.find((r) => r.family === 'ipv4' && r.prefixLength === 0 && r.gateway)
  return {interfaces: interfaces.slice(0, 64), routes, defaultGateway: def?.gateway ?? null}
}

/** /proc/net/route: hex little-endian IPv4 addresses; columns Iface Destination Gateway Flags ... Metric Mask. */
export function parseRoutes(text: string): Route[] {
  const routes: Route[] = []
  for (const line of text.split('\n').slice(1)) {
    const c = line.trim().split(/\s+/)
    if (c.length < 8) continue
    const mask = hexToIpv4(c[7])
    const gateway = hexToIpv4(c[2])
    routes.push({
      family: 'ipv4',
      interface: c[0],
      destination: hexToIpv4(c[1]),
      prefixLength: mask.split('.').reduce((bits, octet) => bits + (Number(octet).toString(2).match(/1/g)?.length ?? 0), 0),
      gateway: gateway === '0.0.0.0' ? null : gateway,
      metric: Number(c[6]),
    })
  }
  return routes
}

/** /proc/net/ipv6_route: dest, dest prefix, src, src prefix, next hop, metric, refcnt, use, flags, iface. */
export function parseIpv6Routes(text: string): Route[] {
  const routes: Route[] = []
  for (const line of text.split('\n')) {
    const c = line.trim().split(/\s+/)
    if (c.length < 10) continue
    const hop = hexToIpv6(c[4])
    routes.push({family: 'ipv6', interface: c[9], destination: hexToIpv6(c[0]), prefixLength: Number.parseInt(c[1], 16), gateway: hop === '::' ? null : hop, metric: Number.parseInt(c[5], 16)})
  }
  return routes
}

function hexToIpv4(hex: string): string {
  const n = Number.parseInt(hex, 16)
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.')
}

function hexToIpv6(hex: string): string {
  const groups = (hex.match(/.{4}/g) ?? []).map((g) => Number.parseInt(g, 16).toString(16))
  // Compress the longest run of zero groups, as `ip -6 route` prints.
  let best = {start: -1, len: 0}
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++
      continue
    }
    let j = i
    while (j < groups.length && groups[j] === '0') j++
    if (j - i > best.len) best = {start: i, len: j - i}
    i = j
  }
  if (best.len < 2) return groups.join(':')
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.len).join(':')}`
}
