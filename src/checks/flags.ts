import {Flags} from '@oclif/core'
import {UsageError} from '../shared/errors.js'
import type {Profile} from './endpoints.js'

/** --profile / --file / --server, shared by `check ports` and `check firewall-rules`. */
export const profileFlags = {
  profile: Flags.string({char: 'p', description: 'Shipped endpoint profile: virtualcare, tether (with --server).', exclusive: ['file'], helpValue: 'NAME'}),
  file: Flags.string({char: 'f', description: 'Custom endpoint list: the vendor table as pasted (IP Address, Hostname, Port 443, ... with X; tab, comma or semicolon separated, or Markdown), JSON or YAML. "-" reads standard input.', exclusive: ['profile'], helpValue: 'FILE'}),
  server: Flags.string({description: 'Tether server URL for --profile tether (port 443 unless the URL names one).', helpValue: 'URL'}),
}

export async function loadProfileFromFlags(flags: {profile?: string; file?: string; server?: string}): Promise<Profile> {
  const loader = await import('./profile-loader.js')
  if (flags.file) return loader.loadProfileFile(flags.file)
  if (flags.profile) return loader.loadNamedProfile(flags.profile, flags.server)
  if (flags.server) return loader.tetherProfile(flags.server)
  throw new UsageError('say what to check: --profile NAME, --file FILE or --server URL', {suggestions: [`Known profiles: ${(await loader.listProfiles()).join(', ')}`]})
}

/** "443,8443" → [443, 8443]. */
export function parsePortList(text: string, flag: string): number[] {
  const ports = text.split(',').map((p) => p.trim()).filter(Boolean)
  return ports.map((p) => {
    const n = Number(p)
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag}: "${p}" is not a port (1-65535)`)
    return n
  })
}
