import {createHash, createPrivateKey, webcrypto} from 'node:crypto'
// tsyringe, a dependency of @peculiar/x509, needs the Reflect metadata API installed first.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'

// @peculiar/x509 needs a WebCrypto implementation; Node's is complete (ECDSA P-256, SHA-256).
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

export {x509}

// The project compiles without the DOM lib: name WebCrypto types through node:crypto.
export type CryptoKey = webcrypto.CryptoKey
export type CryptoKeyPair = webcrypto.CryptoKeyPair

export const EC_ALGORITHM: webcrypto.EcKeyGenParams = {name: 'ECDSA', namedCurve: 'P-256'}
export const SIGNING_ALGORITHM: webcrypto.EcdsaParams = {name: 'ECDSA', hash: 'SHA-256'}

export function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key))
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n'
}

/** Imports a PEM private key (PKCS#8 or SEC1 "EC PRIVATE KEY") as a WebCrypto signing key. */
export async function importSigningKey(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({format: 'der', type: 'pkcs8'})
  return webcrypto.subtle.importKey('pkcs8', der, EC_ALGORITHM, false, ['sign']) as Promise<CryptoKey>
}

/**
 * SHA-256 over the certificate's DER, upper-case hex pairs joined by colons — the form
 * `openssl x509 -noout -fingerprint -sha256` prints. Compare with {@link sameFingerprint}.
 */
export function fingerprintOf(certPem: string): string {
  const der = x509.PemConverter.decodeFirst(certPem)
  return formatFingerprint(createHash('sha256').update(Buffer.from(der)).digest('hex'))
}

export function formatFingerprint(hex: string): string {
  return hex.toUpperCase().match(/.{2}/g)!.join(':')
}

/** True when two SHA-256 fingerprints match, whatever their case or colons. */
export function sameFingerprint(a: string, b: string): boolean {
  const norm = (s: string): string => s.replace(/[:\s]/g, '').toLowerCase()
  return norm(a) === norm(b)
}

/** A positive random serial (RFC 5280: at most 20 octets, high bit clear). */
export function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16))
  bytes[0] &= 0x7f
  if (bytes[0] === 0) bytes[0] = 0x01
  return Buffer.from(bytes).toString('hex')
}

export function daysFromNow(days: number, from = new Date()): Date {
  return new Date(from.getTime() + days * 86_400_000)
}
