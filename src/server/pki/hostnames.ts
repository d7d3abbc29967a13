import {hostname as osHostname, networkInterfaces} from 'node:os'

/** The names every generated server certificate carries: a client on the same machine always matches. */
export const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1']

/** True for a listen address that accepts connections on every interface. */
export function listensEverywhere(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === ''
}

/**
 * The machine's own names: its hostname and the addresses of its interfaces (no loopback, no
 * link-local IPv6, which needs a zone id no certificate can carry). Read, not resolved: no packet
 * leaves the machine.
 */
export function machineNames(): string[] {
  const names = [osHostname()]
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.internal || (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:'))) continue
      names.push(a.address)
    }
  }
  return names.filter(Boolean)
}

/**
 * Default certificate names: loopback always; when the server listens on all addresses, also the
 * machine's hostname and addresses, so agents and admins on other machines can reach it by them.
 */
export function defaultHostnames(host: string): string[] {
  const names = listensEverywhere(host) ? [...LOOPBACK_NAMES, ...machineNames()] : [...LOOPBACK_NAMES]
  return [...new Set(names)]
}
