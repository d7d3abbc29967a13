import {createCipheriv, createDecipheriv, randomBytes} from 'node:crypto'
import {TetherError} from '../../shared/errors.js'

/**
 * The encrypted bundle file format (docs/logs.md). AES-256-GCM authenticates a message only at
 * its end, so a bundle is cut into fixed-size plaintext segments, each sealed on its own:
 *
 *   header (32 bytes): magic "TLB1" | version u8 (1) | reserved u8×3 | segment size u32 BE |
 *                      nonce prefix (8 random bytes) | reserved (12 zero bytes)
 *   segment i:         ciphertext (segment size bytes, the last one shorter) | GCM tag (16)
 *
 * nonce(i) = prefix (8) | i as u32 BE; AAD(i) = header | i as u32 BE | final flag u8. The data
 * key is fresh per bundle, so nonces never repeat under one key. Index and final flag in the
 * AAD make reordered, dropped, duplicated or truncated segments fail authentication; the header
 * in the AAD binds the segment size and prefix. A segment is released only after its tag
 * verified, so a reader never passes on tampered plaintext.
 */

export const MAGIC = Buffer.from('TLB1')
export const HEADER_BYTES = 32
export const TAG_BYTES = 16
export const DEFAULT_SEGMENT_BYTES = 1024 * 1024

export class TamperedBundleError extends TetherError {
  constructor(message: string) {
    super(message, {code: 'BUNDLE_TAMPERED'})
  }
}

export interface SegmentHeader {
  segmentBytes: number
  noncePrefix: Buffer
  raw: Buffer
}

export function newHeader(segmentBytes = DEFAULT_SEGMENT_BYTES): SegmentHeader {
  const raw = Buffer.alloc(HEADER_BYTES)
  MAGIC.copy(raw, 0)
  raw.writeUInt8(1, 4)
  raw.writeUInt32BE(segmentBytes, 8)
  const noncePrefix = randomBytes(8)
  noncePrefix.copy(raw, 12)
  return {segmentBytes, noncePrefix, raw}
}

export function parseHeader(raw: Buffer): SegmentHeader {
  if (raw.length < HEADER_BYTES || !raw.subarray(0, 4).equals(MAGIC) || raw.readUInt8(4) !== 1) {
    throw new TamperedBundleError('not a Tether log bundle file (bad header)')
  }
  const segmentBytes = raw.readUInt32BE(8)
  if (segmentBytes < 1024 || segmentBytes > 64 * 1024 * 1024) throw new TamperedBundleError(`bad segment size ${segmentBytes} in header`)
  const copy = Buffer.from(raw.subarray(0, HEADER_BYTES))
  return {segmentBytes, noncePrefix: copy.subarray(12, 20), raw: copy}
}

function nonce(header: SegmentHeader, index: number): Buffer {
  const n = Buffer.alloc(12)
  header.noncePrefix.copy(n, 0)
  n.writeUInt32BE(index, 8)
  return n
}

function aad(header: SegmentHeader, index: number, final: boolean): Buffer {
  const tail = Buffer.alloc(5)
  tail.writeUInt32BE(index, 0)
  tail.writeUInt8(final ? 1 : 0, 4)
  return Buffer.concat([header.raw, tail])
}

/** Seals one segment: ciphertext | tag. */
export function sealSegment(key: Buffer, header: SegmentHeader, index: number, final: boolean, plaintext: Buffer): Buffer {
  return Buffer.concat(sealSegmentParts(key, header, index, final, plaintext))
}

/**
 * The same as [ciphertext, tag], for a vectored write: joining them would copy every
 * segment once more (a fresh 1 MiB buffer per segment on the upload path).
 */
export function sealSegmentParts(key: Buffer, header: SegmentHeader, index: number, final: boolean, plaintext: Buffer): [Buffer, Buffer] {
  const cipher = createCipheriv('aes-256-gcm', key, nonce(header, index))
  cipher.setAAD(aad(header, index, final))
  const body = cipher.update(plaintext)
  // GCM is a stream mode: final() has no output, it only computes the tag.
  cipher.final()
  return [body, cipher.getAuthTag()]
}

/** Opens one sealed segment; TamperedBundleError when it does not authenticate. */
export function openSegment(key: Buffer, header: SegmentHeader, index: number, final: boolean, sealed: Buffer): Buffer {
  if (sealed.length < TAG_BYTES) throw new TamperedBundleError(`segment ${index} is truncated`)
  const decipher = createDecipheriv('aes-256-gcm', key, nonce(header, index))
  decipher.setAAD(aad(header, index, final))
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
  const body = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES))
  try {
    decipher.final()
  } catch {
    // The only cause of a failing final() with a well-formed tag is an authentication failure.
    throw new TamperedBundleError(`segment ${index} failed authentication: the bundle file was modified or damaged`)
  }
  return body
}

/** Geometry of a bundle of `size` plaintext bytes. */
export function segmentCount(size: number, segmentBytes: number): number {
  return Math.max(1, Math.ceil(size / segmentBytes))
}

export function encryptedSize(size: number, segmentBytes: number): number {
  return HEADER_BYTES + size + segmentCount(size, segmentBytes) * TAG_BYTES
}

/** File offset of segment `index`. */
export function segmentOffset(index: number, segmentBytes: number): number {
  return HEADER_BYTES + index * (segmentBytes + TAG_BYTES)
}
