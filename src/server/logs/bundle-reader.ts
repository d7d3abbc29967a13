import {open} from 'node:fs/promises'
import {HEADER_BYTES, openSegment, parseHeader, segmentCount, segmentOffset, TAG_BYTES, TamperedBundleError, encryptedSize} from './segments.js'

/**
 * Decrypts a bundle file segment by segment. The file's length is checked against the declared
 * size before the first byte (truncation/extension caught up front); each segment is released
 * only after its tag verified, so tampering stops the stream before any altered byte.
 */
export async function* decryptFile(path: string, key: Buffer, size: number): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r')
  try {
    const raw = Buffer.alloc(HEADER_BYTES)
    const {bytesRead} = await handle.read(raw, 0, HEADER_BYTES, 0)
    if (bytesRead !== HEADER_BYTES) throw new TamperedBundleError('the bundle file is truncated (no header)')
    const header = parseHeader(raw)
    const seg = header.segmentBytes
    const fileSize = (await handle.stat()).size
    if (fileSize !== encryptedSize(size, seg)) {
      throw new TamperedBundleError(`the bundle file is ${fileSize} bytes, expected ${encryptedSize(size, seg)}: truncated or extended`)
    }
    const count = segmentCount(size, seg)
    for (let i = 0; i < count; i++) {
      const plainLength = i === count - 1 ? size - i * seg : seg
      // A fresh buffer per segment: the consumer may still hold the previous one.
      const sealed = Buffer.allocUnsafe(plainLength + TAG_BYTES)
      const got = await readFully(handle, sealed, segmentOffset(i, seg))
      if (got !== sealed.length) throw new TamperedBundleError(`segment ${i} is truncated`)
      yield openSegment(key, header, i, i === count - 1, sealed)
    }
  } finally {
    await handle.close()
  }
}

async function readFully(handle: Awaited<ReturnType<typeof open>>, buffer: Buffer, position: number): Promise<number> {
  let done = 0
  while (done < buffer.length) {
    const {bytesRead} = await handle.read(buffer, done, buffer.length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}
