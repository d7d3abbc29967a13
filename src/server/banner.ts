import {X509Certificate} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {fingerprintOf} from '../shared/x509.js'
import type {ServerConfig} from './config.js'
import {listensEverywhere, machineNames} from './pki/hostnames.js'

/** What a newcomer needs once the server listens: the CA file to trust, its fingerprint, the login line. */
export interface ListeningBanner {
  /** Absolute path of the CA `tether login --ca` takes; null for an operator certificate without a CA. */
  caFile: string | null
  /** SHA-256 of that CA (or of the server certificate when there is no CA file). */
  fingerprint: string
  /** The exact command to run on this machine. */
  loginCommand: string
  /** Machine names (hostname, addresses) the certificate does not cover while listening on all addresses. */
  uncoveredNames: string[]
}

export async function listeningBanner(config: ServerConfig, port: number, username?: string): Promise<ListeningBanner> {
  const caPem = await readFile(config.tls.caFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null
    throw error
  })
  const certPem = await readFile(config.tls.certFile, 'utf8')
  const cert = new X509Certificate(certPem)
  const everywhere = listensEverywhere(config.host)
  const host = everywhere ? 'localhost' : config.host
  const url = `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`
  const trust = caPem ? `--ca ${config.tls.caFile}` : `--fingerprint ${fingerprintOf(certPem)}`
  const uncovered = everywhere ? machineNames().filter((name) => !certificateNames(cert, name)) : []
  return {
    caFile: caPem ? config.tls.caFile : null,
    fingerprint: fingerprintOf(caPem ?? certPem),
    loginCommand: `tether login --server ${url} ${trust}${username ? ` --username ${username}` : ''}`,
    uncoveredNames: uncovered,
  }
}

/** The banner as lines for stderr. */
export function bannerLines(banner: ListeningBanner): string[] {
  const lines = [
    `  CA certificate:   ${banner.caFile ?? '(operator certificate without a CA file: pin the fingerprint)'}`,
    `  CA fingerprint:   SHA-256 ${banner.fingerprint}`,
    `  Log in with:      ${banner.loginCommand}`,
  ]
  if (banner.uncoveredNames.length > 0) {
    lines.push(
      `  The server certificate does not name ${banner.uncoveredNames.join(', ')}: clients elsewhere must use a name it has,`,
      '  or initialise a new data dir with those names: tether server init --data-dir NEW_DIR --hostname NAME …',
    )
  }
  return lines
}

function certificateNames(cert: X509Certificate, name: string): boolean {
  return isIP(name) ? cert.checkIP(name) !== undefined : cert.checkHost(name) !== undefined
}
