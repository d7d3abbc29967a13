import {BlockList, isIP} from 'node:net'
import {UsageError} from '../shared/errors.js'

/**
 * Operator restriction of which addresses probes may reach (env TETHER_PROBE_ALLOW, a
 * comma-separated list of CIDRs). When set, a target outside it is refused before any packet
 * is sent, and hostnames are not looked up unless --map gives their address, because a DNS
 * query is itself traffic to somewhere the operator did not allow.
 */
export interface ProbeAllowPolicy {
  /** The CIDRs as given, for messages. */
  readonly cidrs: string[]
  allows(address: string): boolean
}

export function parseProbeAllow(text: string | undefined): ProbeAllowPolicy | undefined {
  if (text === undefined || text.trim() === '') return undefined
  const list = new BlockList()
  const cidrs = text.split(',').map((c) => c.trim()).filter(Boolean)
  for (const cidr of cidrs) {
    const [addr, bitsText] = cidr.split('/')
    const family = isIP(addr)
    const max = family === 6 ? 128 : 32
    const bits = bitsText === undefined ? max : Number(bitsText)
    if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > max) {
      throw new UsageError(`TETHER_PROBE_ALLOW: "${cidr}" is not a CIDR such as 127.0.0.0/8 or ::1/128`)
    }
    list.addSubnet(addr, bits, family === 6 ? 'ipv6' : 'ipv4')
  }
  return {
    cidrs,
    allows(address: string): boolean {
      const family = isIP(address)
      if (family === 0) return false
      // An IPv4-mapped IPv6 address is the IPv4 address on the wire.
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
      if (mapped) return list.check(mapped[1], 'ipv4')
      return list.check(address, family === 6 ? 'ipv6' : 'ipv4')
    },
  }
}

export function probeAllowFromEnv(env: NodeJS.ProcessEnv = process.env): ProbeAllowPolicy | undefined {
  return parseProbeAllow(env.TETHER_PROBE_ALLOW)
}

export const BLOCKED_REASON = 'blocked by TETHER_PROBE_ALLOW'
