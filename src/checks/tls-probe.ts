import {isIP, type Socket} from 'node:net'
import {checkServerIdentity, connect as tlsConnect, rootCertificates, type DetailedPeerCertificate} from 'node:tls'

export type TlsStatus = 'ok' | 'warning' | 'failed'

/** The TLS column: what the device's TLS client would see on this path. */
export interface TlsResult {
  status: TlsStatus
  protocol: string | null
  cipher: string | null
  subject: string | null
  san: string[]
  /** Does the certificate name the hostname (or the IP when there is no hostname)? */
  hostnameMatch: boolean | null
  issuer: string | null
  validTo: string | null
  daysToExpiry: number | null
  /** Chain verifies against Node's public roots plus --ca. */
  trusted: boolean
  trustError: string | null
  /** Issued by a CA that neither the public roots nor the profile expect: a middlebox may be re-signing. */
  interception: boolean
  problems: string[]
  ms: number | null
}

export interface TlsProbeOptions {
  host?: string
  ip?: string
  timeoutMs: number
  /** Extra trusted CA certificates (PEM), added to the public roots. */
  extraCa?: string[]
  expectedIssuers?: string[]
  /** Days before expiry that turn into a warning. */
  expiryWarnDays?: number
}

/** Chain errors that mean "signed by a CA we do not know", as opposed to self-signed or expired. */
const UNKNOWN_CA_ERRORS = new Set(['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'])
const DAY_MS = 86_400_000

/** Runs a TLS handshake over an open socket (direct or a proxy tunnel) and judges the certificate. */
export function probeTls(socket: Socket, options: TlsProbeOptions): Promise<TlsResult> {
  return new Promise((resolve) => {
    const start = performance.now()
    const name = options.host ?? options.ip
    const tls = tlsConnect({
      socket,
      servername: options.host && isIP(options.host) === 0 ? options.host : undefined,
      // We judge the certificate ourselves, so that an untrusted one is reported, not just refused.
      rejectUnauthorized: false,
      // The name is judged separately below, so that `authorized` means the chain alone.
      checkServerIdentity: () => undefined,
      ...(options.extraCa?.length ? {ca: [...rootCertificates, ...options.extraCa]} : {}),
    })
    let settled = false
    const finish = (result: TlsResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      tls.destroy()
      resolve(result)
    }
    const failed = (problem: string): TlsResult => ({
      status: 'failed', protocol: null, cipher: null, subject: null, san: [], hostnameMatch: null, issuer: null, validTo: null,
      daysToExpiry: null, trusted: false, trustError: null, interception: false, problems: [problem], ms: null,
    })
    const timer = setTimeout(() => finish(failed(`no TLS handshake within ${options.timeoutMs}ms`)), options.timeoutMs)
    tls.once('secureConnect', () => {
      const ms = Math.round((performance.now() - start) * 10) / 10
      const cert = tls.getPeerCertificate(true)
      finish(judge(cert, tls.authorized, tls.authorizationError ? String(tls.authorizationError) : null, tls.getProtocol(), tls.getCipher()?.name ?? null, name, ms, options))
    })
    tls.on('error', (error: NodeJS.ErrnoException) => finish(failed(`handshake failed: ${error.code ?? error.message}`)))
    tls.once('close', () => finish(failed('connection closed during the TLS handshake')))
  })
}

function judge(cert: DetailedPeerCertificate, authorized: boolean, trustError: string | null, protocol: string | null, cipher: string | null, name: string | undefined, ms: number, options: TlsProbeOptions): TlsResult {
  const problems: string[] = []
  const warnings: string[] = []
  if (!cert || Object.keys(cert).length === 0) {
    return {status: 'failed', protocol, cipher, subject: null, san: [], hostnameMatch: null, issuer: null, validTo: null, daysToExpiry: null, trusted: false, trustError, interception: false, problems: ['no certificate'], ms}
  }
  const san = (cert.subjectaltname ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  const hostnameMatch = name ? checkServerIdentity(name, cert) === undefined : null
  const issuer = dnName(cert.issuer)
  const validTo = new Date(cert.valid_to)
  const daysToExpiry = Math.floor((validTo.getTime() - Date.now()) / DAY_MS)
  const chainIssuers = issuersOf(cert)
  const expected = options.expectedIssuers?.map((e) => e.toLowerCase())
  const unexpectedIssuer = expected !== undefined && expected.length > 0 && !chainIssuers.some((i) => expected.some((e) => i.toLowerCase().includes(e)))
  const interception = unexpectedIssuer || (!authorized && trustError !== null && UNKNOWN_CA_ERRORS.has(trustError) && expected === undefined)

  if (!authorized) problems.push(trustProblem(trustError))
  if (hostnameMatch === false) problems.push(`certificate does not name ${name}`)
  if (daysToExpiry < 0) {
    if (trustError !== 'CERT_HAS_EXPIRED') problems.push(`expired ${-daysToExpiry} days ago`)
  } else if (daysToExpiry < (options.expiryWarnDays ?? 14)) warnings.push(`expires in ${daysToExpiry} days`)
  if (interception) problems.push(`issued by "${issuer}"${unexpectedIssuer ? `, not by ${options.expectedIssuers!.join(' or ')}` : ', a CA the public roots do not know'}: possible TLS interception by a middlebox`)

  return {
    status: problems.length > 0 ? 'failed' : warnings.length > 0 ? 'warning' : 'ok',
    protocol,
    cipher,
    subject: dnName(cert.subject),
    san,
    hostnameMatch,
    issuer,
    validTo: Number.isNaN(validTo.getTime()) ? null : validTo.toISOString(),
    daysToExpiry: Number.isNaN(daysToExpiry) ? null : daysToExpiry,
    trusted: authorized,
    trustError,
    interception,
    problems: [...problems, ...warnings],
    ms,
  }
}

function trustProblem(code: string | null): string {
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return 'untrusted: self-signed certificate'
    case 'CERT_HAS_EXPIRED':
      return 'untrusted: certificate expired'
    case 'CERT_NOT_YET_VALID':
      return 'untrusted: certificate not yet valid'
    default:
      return `untrusted: ${code ?? 'chain does not verify'}`
  }
}

type Dn = Record<string, string | string[] | undefined> | undefined

function dnName(dn: Dn): string | null {
  if (!dn) return null
  const pick = (k: string): string | undefined => {
    const v = dn[k]
    return Array.isArray(v) ? v[0] : v
  }
  return pick('CN') ?? pick('O') ?? null
}

/** CN and O of every issuer up the presented chain, for matching expectedIssuers. */
function issuersOf(cert: DetailedPeerCertificate): string[] {
  const names: string[] = []
  let current: DetailedPeerCertificate | undefined = cert
  for (let depth = 0; current && depth < 10; depth++) {
    for (const k of ['CN', 'O'] as const) {
      const v = (current.issuer as Dn)?.[k]
      if (v) names.push(...(Array.isArray(v) ? v : [v]))
    }
    if (!current.issuerCertificate || current.issuerCertificate === current) break
    current = current.issuerCertificate
  }
  return names
}
