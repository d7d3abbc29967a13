import {X509Certificate} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import tls, {type PeerCertificate} from 'node:tls'
import {UnavailableError, UsageError} from '../shared/errors.js'

/**
 * How the admin CLI decides to trust the server: the CA PEM given at login (--ca), a pinned
 * SHA-256 fingerprint of the CA or leaf certificate (--fingerprint), or the system store.
 * Verification is never turned off; a pinned certificate becomes the only trust anchor.
 */
export interface Trust {
  /** PEM of the trust anchor (the server CA, or the pinned certificate itself). */
  ca?: string
  /** "AB:CD:…" SHA-256 fingerprint the peer chain must contain. */
  fingerprint?: string
}

/** Accepts "sha256:abcd…", "AB:CD:…" or plain hex; returns Node's "AB:CD:…" form. */
export function normalizeFingerprint(text: string, what = '--fingerprint'): string {
  const hex = text.trim().replace(/^sha-?256[:=]/i, '').replace(/[:\s]/g, '').toUpperCase()
  if (!/^[0-9A-F]{64}$/.test(hex)) throw new UsageError(`${what}: expected a SHA-256 fingerprint (64 hex digits, colons optional)`)
  return hex.match(/../g)!.join(':')
}

/** Reads and checks a CA file; the error names the flag or variable it came from. */
export async function readCaFile(path: string, what = '--ca'): Promise<string> {
  let pem: string
  try {
    pem = await readFile(path, 'utf8')
  } catch (error) {
    throw new UsageError(`${what}: cannot read ${path}: ${(error as Error).message}`, {cause: error})
  }
  try {
    new X509Certificate(pem)
  } catch (error) {
    throw new UsageError(`${what}: ${path} is not a PEM certificate`, {cause: error})
  }
  return pem
}

/** The peer chain as a list, leaf first (getPeerCertificate(true) links it via issuerCertificate). */
export function peerChain(cert: PeerCertificate | undefined): PeerCertificate[] {
  const chain: PeerCertificate[] = []
  let current = cert as tls.DetailedPeerCertificate | undefined
  while (current && current.raw && !chain.some((c) => c.fingerprint256 === current!.fingerprint256)) {
    chain.push(current)
    current = current.issuerCertificate
  }
  return chain
}

/**
 * The checkServerIdentity used with a pin: the usual hostname check, and the chain Node has
 * already verified must contain the pinned certificate.
 */
export function pinnedIdentityCheck(fingerprint: string) {
  return (hostname: string, cert: PeerCertificate): Error | undefined => {
    const hostError = tls.checkServerIdentity(hostname, cert)
    if (hostError) return hostError
    const chain = peerChain(cert)
    if (!chain.some((c) => c.fingerprint256 === fingerprint)) {
      return Object.assign(new Error(`no certificate in the server chain has the pinned fingerprint ${fingerprint}`), {code: 'ERR_TETHER_PIN_MISMATCH'})
    }
    return undefined
  }
}

/** undici `connect` options for a trust setting. */
export function connectOptions(trust: Trust): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = {rejectUnauthorized: true}
  if (trust.ca) {
    options.ca = trust.ca
    // A pinned leaf or intermediate is a trust anchor without its issuer (Node >= 20.18).
    ;(options as Record<string, unknown>).allowPartialTrustChain = true
  }
  if (trust.fingerprint) options.checkServerIdentity = pinnedIdentityCheck(trust.fingerprint)
  return options
}

/**
 * Turns a fingerprint pin into a trust anchor: connects once, only to read the certificate
 * chain (nothing is sent), and returns the PEM of the chain's certificate with that
 * fingerprint. Every real request then verifies fully against that anchor.
 */
export async function fetchPinnedCertificate(server: string, fingerprint: string, timeoutMs = 10_000): Promise<string> {
  const url = new URL(server)
  const port = Number(url.port || 443)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const chain = await new Promise<PeerCertificate[]>((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername: isIP(host) ? undefined : host,
      // Trust here comes from the fingerprint match below, not from the store: this socket
      // carries no data and is closed as soon as the chain has been read.
      rejectUnauthorized: false,
      timeout: timeoutMs,
    })
    socket.once('secureConnect', () => {
      const certs = peerChain(socket.getPeerCertificate(true))
      socket.destroy()
      resolve(certs)
    })
    socket.once('timeout', () => {
      socket.destroy()
      reject(new UnavailableError(`${url.origin}: timed out reading the server certificate`))
    })
    socket.once('error', (error: NodeJS.ErrnoException) => reject(new UnavailableError(`${url.origin}: ${error.code ?? error.message}`, {cause: error})))
  })
  const match = chain.find((c) => c.fingerprint256 === fingerprint)
  if (!match) {
    throw new UnavailableError(`certificate not trusted: no certificate presented by ${url.origin} has the fingerprint ${fingerprint}`, {
      code: 'TLS_PIN_MISMATCH',
      suggestions: [`The server presented: ${chain.map((c) => c.fingerprint256).join(', ') || 'nothing'}`],
    })
  }
  return new X509Certificate(match.raw).toString()
}
