import type {BlobStore} from './blob-store.js'

/** What moves: the folders of each blob namespace that hold kept bytes (never `tmp/`). */
export const BLOB_FOLDERS: Readonly<Record<string, readonly string[]>> = {
  logs: ['bundles', 'uploads'],
  updates: ['targets'],
}

/** Bytes per append: one sealed log segment's worth, the size the server's own writers use. */
const APPEND_BYTES = 1024 * 1024

export interface BlobsCopied {
  blobs: number
  bytes: number
  /** Already in the target with the same size (a copy run again after a failure). */
  skipped: number
}

/**
 * Copies every blob under `folders` from one store to another, streamed (never a whole blob in
 * memory). Bytes are copied as stored: bundles stay sealed under the same data keys. A blob the
 * target already has at the same size is left alone, one of another size is replaced, so a copy
 * interrupted half-way can simply be run again.
 */
export async function copyBlobs(from: BlobStore, to: BlobStore, folders: readonly string[], into: BlobsCopied = {blobs: 0, bytes: 0, skipped: 0}): Promise<BlobsCopied> {
  for (const folder of folders) {
    for await (const blob of from.list(`${folder}/`)) {
      const there = await to.stat(blob.key)
      if (there?.size === blob.size) {
        into.skipped++
        continue
      }
      if (there) await to.delete(blob.key)
      await to.create(blob.key)
      const writer = await to.open(blob.key)
      try {
        let at = 0
        let pending: Buffer[] = []
        let pendingBytes = 0
        const push = async () => {
          await writer.append(pending, at)
          at += pendingBytes
          pending = []
          pendingBytes = 0
        }
        for await (const piece of from.read(blob.key)) {
          pending.push(piece as Buffer)
          pendingBytes += (piece as Buffer).length
          if (pendingBytes >= APPEND_BYTES) await push()
        }
        if (pendingBytes > 0) await push()
        await writer.sync()
        into.blobs++
        into.bytes += at
      } finally {
        await writer.close()
      }
    }
  }
  return into
}
