import {constants} from 'node:crypto'
import {access, readFile} from 'node:fs/promises'
import type {SecureContextOptions, TlsOptions} from 'node:tls'
import {UsageError} from '../../shared/errors.js'
import type {ServerConfig} from '../config.js'
import {serverCaKeyFile} from '../peering/node-cert.js'

/**
 * AEAD suites only, forward secrecy only. TLS 1.3 suites are all AEAD; for TLS 1.2, ECDHE with
 * AES-GCM or ChaCha20-Poly1305 (RSA variants for operator-supplied RSA certificates).
 * CBC, RSA key exchange, 3DES and SHA-1 MACs are absent, so clients offering only those fail.
 */
export const TLS13_SUITES = ['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256']
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
]

export type HttpsOptions = TlsOptions & SecureContextOptions

/**
 * Node https.Server options: the data dir's certificate and key, TLS 1.2+ and AEAD only.
 * Client certificates are requested but not required: admin API clients send none, agents
 * send their device certificate, which is verified against the device CA (and only that CA);
 * the hub (src/server/hub/upgrade.ts) refuses an agent upgrade unless socket.authorized.
 * Other nodes of the cluster send a node certificate from the server CA (tunnel legs they
 * forward, src/server/peering): that CA is trusted too when this data dir holds its key. A node
 * certificate is no device's: the device check pins each device's own certificate fingerprint.
 */
export async function httpsOptions(config: ServerConfig): Promise<HttpsOptions> {
  const read = async (path: string, what: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8')
    } catch (error) {
      throw new UsageError(`${what} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
        cause: error,
        suggestions: ['Run `tether server init` to create the data dir, or fix tls.* in config.json.'],
      })
    }
  }
  return {
    cert: await read(config.tls.certFile, 'TLS certificate'),
    key: await read(config.tls.keyFile, 'TLS key'),
    minVersion: 'TLSv1.2',
    ciphers: [...TLS13_SUITES, ...TLS12_CIPHERS].join(':'),
    honorCipherOrder: true,
    ecdhCurve: 'X25519:P-256:P-384',
    requestCert: true,
    // No TLS session tickets: with client certificates each ticket carries the peer chain, and
    // per connection that cost ~14 KB of RSS and ~10% of handshake throughput with 10,000 agents
    // (bench/agent-fanin). Agents reconnect rarely; admin CLI calls do not resume either.
    secureOptions: constants.SSL_OP_NO_TICKET,
    rejectUnauthorized: false,
    ca: [await read(config.deviceCa.certFile, 'device CA certificate'), ...(await hasFile(serverCaKeyFile(config.tls.caFile)) ? [await read(config.tls.caFile, 'server CA certificate')] : [])],
    // A client that opens a socket and never completes the handshake is dropped, not held.
    handshakeTimeout: config.limits.headersTimeoutMs,
  }
}

async function hasFile(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false // no server CA key: an operator-supplied certificate, no node certificates
  }
}
