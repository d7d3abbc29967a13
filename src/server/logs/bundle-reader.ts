import type {Readable} from 'node:stream'
import type {BlobStore} from '../blobs/blob-store.js'
import {HEADER_BYTES, openSegment, parseHeader, segmentCount, TAG_BYTES, TamperedBundleError, encryptedSize} from './segments.js'

/**
 * Decrypts a stored bundle segment by segment, reading its blob as one stream (the store hands
 * out bounded pieces, so memory stays at about one segment). The blob's length is checked
 * against the declared size before the first byte (truncation/extension caught up front); each
 * segment is released only after its tag verified, so tampering stops the stream before any
 * altered byte.
 */
export async function* decryptBlob(store: BlobStore, key: string, dataKey: Buffer, size: number): AsyncGenerator<Buffer> {
  const stored = await store.stat(key)
  if (!stored) throw new TamperedBundleError(`the bundle's stored bytes (${key}) are missing`)
  const stream = store.read(key)
  const reader = new ExactReader(stream)
  try {
    const raw = await reader.take(HEADER_BYTES)
    if (raw.length !== HEADER_BYTES) throw new TamperedBundleError('the bundle file is truncated (no header)')
    const header = parseHeader(raw)
    const seg = header.segmentBytes
    if (stored.size !== encryptedSize(size, seg)) {
      throw new TamperedBundleError(`the bundle file is ${stored.size} bytes, expected ${encryptedSize(size, seg)}: truncated or extended`)
    }
    const count = segmentCount(size, seg)
    for (let i = 0; i < count; i++) {
      const plainLength = i === count - 1 ? size - i * seg : seg
      const sealed = await reader.take(plainLength + TAG_BYTES)
      if (sealed.length !== plainLength + TAG_BYTES) throw new TamperedBundleError(`segment ${i} is truncated`)
      yield openSegment(dataKey, header, i, i === count - 1, sealed)
    }
  } finally {
    stream.destroy()
  }
}

/** Exact-length reads from a stream of pieces of any size, holding at most one piece over. */
class ExactReader {
  private readonly pieces: AsyncIterator<Buffer>
  private rest: Buffer = Buffer.alloc(0)

  constructor(stream: Readable) {
    this.pieces = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  }

  /** `n` bytes, fewer only at the end of the stream. A fresh buffer: the consumer may keep it. */
  async take(n: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(n)
    let filled = 0
    while (filled < n) {
      if (this.rest.length === 0) {
        const next = await this.pieces.next()
        if (next.done) return out.subarray(0, filled)
        this.rest = next.value
        continue
      }
      const copied = this.rest.copy(out, filled, 0, Math.min(this.rest.length, n - filled))
      filled += copied
      this.rest = this.rest.subarray(copied)
    }
    return out
  }
}
