import {X509Certificate} from 'node:crypto'
import {join} from 'node:path'
import {TetherError, UnavailableError} from '../shared/errors.js'
import {CHAIN_UNTRUSTED_CODES} from '../shared/tls-errors.js'

/** Where the trust anchor of a failed connection came from, to say what was wrong with it. */
export interface AnchorSource {
  /** "--ca ./device-ca/ca.crt", "TETHER_CA" or "the CA saved at the last login". */
  label: string
  /** The anchor's PEM, when there was one. */
  pem?: string
  /** The file it was read from, when known. */
  file?: string
  /** The command runs with TETHER_TOKEN (a script): trust can only come from the environment. */
  fromEnv?: boolean
}

const SERVER_CA = "the server's CA is tls/ca.crt in the server's data dir (DATA_DIR/tls/ca.crt; `tether server start` prints its path and fingerprint)"

/**
 * Replaces "certificate not trusted" by what was wrong with the anchor: the wrong CA file (the
 * device CA is the usual mistake), or no anchor at all in a script. Other errors pass unchanged.
 */
export function explainUntrusted(error: unknown, anchor: AnchorSource): unknown {
  if (!(error instanceof TetherError) || !CHAIN_UNTRUSTED_CODES.has(String(error.details?.errno ?? ''))) return error
  if (anchor.pem) {
    const name = subjectName(anchor.pem)
    const what = `${anchor.label}${name ? `, "${name}"` : ''}`
    // The usual mistake: DATA_DIR/device-ca/ca.crt, whose sibling tls/ca.crt is the right file.
    const dataDir = /^(.*)[/\\]device-ca[/\\]ca\.crt$/.exec(anchor.file ?? '')?.[1]
    const deviceCa = dataDir !== undefined || /Device CA/i.test(name ?? '')
    const right = dataDir === undefined ? undefined : join(dataDir, 'tls', 'ca.crt')
    const where = right ? `the server's CA is ${right}` : SERVER_CA
    return new UnavailableError(
      `certificate not trusted: this CA (${what}) did not sign the server's certificate; ${where}${deviceCa ? ', not device-ca/ca.crt (that CA signs devices)' : ''}`,
      {
        code: 'TLS_WRONG_CA',
        cause: error,
        details: error.details,
        suggestions: [right ? `tether login --server URL --ca ${right}` : 'tether login --server URL --ca DATA_DIR/tls/ca.crt   (or --fingerprint with the SHA-256 the server prints)'],
      },
    )
  }
  if (anchor.fromEnv) {
    return new UnavailableError(
      "certificate not trusted: TETHER_TOKEN is set but no trust anchor is: set TETHER_CA to the server's CA file or TETHER_FINGERPRINT to its SHA-256 fingerprint",
      {code: error.code, cause: error, details: error.details, suggestions: [`TETHER_CA=DATA_DIR/tls/ca.crt or TETHER_FINGERPRINT=AB:CD:…; ${SERVER_CA}`]},
    )
  }
  return error
}

function subjectName(pem: string): string | undefined {
  try {
    return /CN=([^\n,]+)/.exec(new X509Certificate(pem).subject)?.[1]
  } catch (error) {
    // Not a certificate we can read: the message then names only where it came from.
    if (error instanceof Error) return undefined
    throw error
  }
}
