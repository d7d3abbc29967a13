import {isIP} from 'node:net'
import type {Profile} from './endpoints.js'

export type FirewallFormat = 'nftables' | 'iptables' | 'windows' | 'csv'
export const FIREWALL_FORMATS: FirewallFormat[] = ['nftables', 'iptables', 'windows', 'csv']

/** One outbound allow rule: TCP from the device network to address:ports. Part of the --json contract. */
export interface FirewallRule {
  host: string | null
  /** The documented IP; null when the profile only names a host (the admin must resolve it). */
  address: string | null
  family: 4 | 6 | null
  ports: number[]
  protocol: 'tcp'
  direction: 'outbound'
  required: boolean
}

export interface FirewallRulesResult {
  profile: string
  format: FirewallFormat
  rules: FirewallRule[]
  text: string
  /** What loading the profile ignored (unknown table columns, lines above the header). */
  warnings: string[]
}

export function firewallRules(profile: Profile): FirewallRule[] {
  return profile.endpoints.map((e) => {
    const family = e.ip ? (isIP(e.ip) as 4 | 6) : null
    return {host: e.host ?? null, address: e.ip ?? null, family, ports: [...new Set(e.ports)], protocol: 'tcp', direction: 'outbound', required: e.required}
  })
}

const label = (r: FirewallRule): string => r.host ?? r.address ?? '?'
// Comments end up inside shell/nft quoting: keep them to a safe alphabet.
const safe = (text: string): string => text.replace(/[^A-Za-z0-9._:@ -]/g, '_')

export function renderFirewallRules(profile: Profile, format: FirewallFormat): string {
  const rules = firewallRules(profile)
  const pairs = rules.reduce((n, r) => n + r.ports.length, 0)
  const title = `Outbound allow rules for Tether profile "${safe(profile.name)}" (${rules.length} hosts, ${pairs} host:port pairs)`
  const unresolved = rules.filter((r) => r.address === null)
  switch (format) {
    case 'nftables':
      return nftables(rules, title, unresolved)
    case 'iptables':
      return iptables(rules, title, unresolved)
    case 'windows':
      return windows(rules, title, profile.name, unresolved)
    case 'csv':
      return ['host,address,protocol,ports,direction,required', ...rules.map((r) => `${r.host ?? ''},${r.address ?? ''},tcp,${r.ports.join(' ')},outbound,${r.required ? 'yes' : 'no'}`)].join('\n') + '\n'
  }
}

function unresolvedNote(prefix: string, unresolved: FirewallRule[]): string[] {
  return unresolved.map((r) => `${prefix} ${label(r)} has no documented IP: allow the addresses it resolves to (ports ${r.ports.join(', ')}), or allow it on your proxy.`)
}

function nftables(rules: FirewallRule[], title: string, unresolved: FirewallRule[]): string {
  const lines = [
    `# ${title}`,
    '# Load with: nft -f FILE. Assumes table "inet filter" with an "output" chain (use "forward" on a router).',
    ...unresolvedNote('#', unresolved),
    ...rules.filter((r) => r.address).map((r) => `add rule inet filter output ${r.family === 6 ? 'ip6' : 'ip'} daddr ${r.address} tcp dport { ${r.ports.join(', ')} } accept comment "${safe(label(r))}"`),
  ]
  return lines.join('\n') + '\n'
}

function iptables(rules: FirewallRule[], title: string, unresolved: FirewallRule[]): string {
  const v4 = rules.filter((r) => r.family === 4)
  const v6 = rules.filter((r) => r.family === 6)
  const lines = [
    `# ${title}`,
    '# Load with: iptables-restore --noflush < FILE (use the FORWARD chain on a router).',
    ...unresolvedNote('#', unresolved),
    ...v6.map((r) => `# IPv6: ip6tables -A OUTPUT -d ${r.address}/128 -p tcp -m multiport --dports ${r.ports.join(',')} -j ACCEPT  # ${safe(label(r))}`),
    '*filter',
    ...v4.map((r) => `-A OUTPUT -d ${r.address}/32 -p tcp -m multiport --dports ${r.ports.join(',')} -m comment --comment "${safe(label(r))}" -j ACCEPT`),
    'COMMIT',
  ]
  return lines.join('\n') + '\n'
}

function windows(rules: FirewallRule[], title: string, profileName: string, unresolved: FirewallRule[]): string {
  const lines = [
    `# ${title}`,
    '# Run in an elevated PowerShell on the device (Windows Defender Firewall).',
    ...unresolvedNote('#', unresolved),
    ...rules.filter((r) => r.address).map((r) => `New-NetFirewallRule -DisplayName 'Tether ${safe(profileName)} ${safe(label(r))}' -Direction Outbound -Action Allow -Protocol TCP -RemoteAddress ${r.address} -RemotePort ${r.ports.join(',')}`),
  ]
  return lines.join('\r\n') + '\r\n'
}
