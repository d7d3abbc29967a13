import {isIP} from 'node:net'
import {z} from 'zod'

/** One row of a profile: a host (by documented IP and/or hostname) and the ports it needs. */
export interface Endpoint {
  ip?: string
  host?: string
  ports: number[]
  /** A failing optional endpoint is reported but does not fail the check. */
  required: boolean
  /** Issuer names (CN or O) the vendor's certificates come from; anything else suggests interception. */
  expectedIssuers?: string[]
  /** Where the row came from (file:line), for messages. */
  source?: string
}

export interface Profile {
  name: string
  description?: string
  endpoints: Endpoint[]
  /** Ports that speak TLS for this profile, in addition to --tls-ports. */
  tlsPorts?: number[]
  /** What the loader ignored in a pasted table (unknown columns, lines above the header): said once. */
  warnings?: string[]
}

/** One (host, port) pair of a profile: what a probe is about. */
export interface EndpointPort {
  ip?: string
  host?: string
  port: number
  required: boolean
  expectedIssuers?: string[]
}

export const portSchema = z.number().int().min(1).max(65535)

const hostnameRe = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i

export const endpointSchema = z
  .object({
    ip: z.string().refine((v) => isIP(v) !== 0, {message: 'not an IPv4 or IPv6 address'}).optional(),
    host: z.string().regex(hostnameRe, {message: 'not a hostname'}).optional(),
    ports: z.array(portSchema).min(1, {message: 'needs at least one port'}),
    required: z.boolean().default(true),
    expectedIssuers: z.array(z.string().min(1)).optional(),
  })
  .strict()
  .refine((e) => e.ip !== undefined || e.host !== undefined, {message: 'needs an ip or a host'})

export const profileSchema = z
  .object({
    name: z.string().min(1).optional(),
    description: z.string().optional(),
    source: z.string().optional(),
    tlsPorts: z.array(portSchema).optional(),
    endpoints: z.array(endpointSchema).min(1, {message: 'needs at least one endpoint'}),
  })
  .strict()

/** Flattens a profile into its (host, port) pairs, keeping the profile's order; duplicates dropped. */
export function endpointPorts(profile: Profile): EndpointPort[] {
  const seen = new Set<string>()
  const pairs: EndpointPort[] = []
  for (const e of profile.endpoints) {
    for (const port of e.ports) {
      const key = `${e.ip ?? ''}|${(e.host ?? '').toLowerCase()}|${port}`
      if (seen.has(key)) continue
      seen.add(key)
      pairs.push({ip: e.ip, host: e.host, port, required: e.required, ...(e.expectedIssuers ? {expectedIssuers: e.expectedIssuers} : {})})
    }
  }
  return pairs
}

/** "host (ip)" or whichever of the two exists. */
export function endpointLabel(e: {ip?: string; host?: string}): string {
  if (e.host && e.ip) return `${e.host} (${e.ip})`
  return e.host ?? e.ip ?? '?'
}
