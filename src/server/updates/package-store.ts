import {createHash, randomBytes} from 'node:crypto'
import type {Readable} from 'node:stream'
import {TufMetadataError} from '../../shared/tuf/index.js'
import {type BlobStat, type BlobStore, writeBlob} from '../blobs/blob-store.js'

/** What the signed targets.json says about one package. */
export interface SignedPackage {
  path: string
  length: number
  hashes: Record<string, string>
}

const HASHES: Record<string, string> = {sha256: 'sha256', sha512: 'sha512'}

/** A package upload left in `tmp/` this long was cut off by a crash: swept. */
export const STALE_PART_MS = 86_400_000

/**
 * Verified package bytes in the blob store, content-addressed (`targets/<sha256>`, the same
 * files as before blob stores in the local backend): two target paths with the same bytes
 * share one blob, and a blob is never replaced by different bytes under one name. A body is
 * streamed to a temp blob and hashed as it is written (never whole in memory), compared with
 * the signed length and every signed hash, and only then renamed into place.
 */
export class PackageStore {
  constructor(private readonly blobs: BlobStore) {}

  /** Key of a package's bytes, the `blob` column. */
  blobOf(pkg: Pick<SignedPackage, 'hashes'>): string {
    return `targets/${pkg.hashes.sha256}`
  }

  stat(blob: string): Promise<BlobStat | undefined> {
    return this.blobs.stat(blob)
  }

  /** The package's bytes `start`..`end` (inclusive), streamed. */
  read(blob: string, range?: {start: number; end: number}): Readable {
    return this.blobs.read(blob, range)
  }

  async has(pkg: SignedPackage): Promise<boolean> {
    return (await this.blobs.stat(this.blobOf(pkg)))?.size === pkg.length
  }

  async receive(pkg: SignedPackage, body: Readable): Promise<{bytes: number}> {
    const what = `targets[${pkg.path}]`
    const algorithms = Object.keys(pkg.hashes).filter((name) => HASHES[name])
    const hashes = algorithms.map((name) => ({name, hash: createHash(HASHES[name])}))
    let bytes = 0
    async function* metered(): AsyncGenerator<Buffer> {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        bytes += chunk.length
        // Never more than the signed length stored (TUF's endless-data attack, server side).
        if (bytes > pkg.length) throw new TufMetadataError(what, 'target-file', `the upload is longer than the signed length ${pkg.length}`)
        for (const h of hashes) h.hash.update(chunk)
        yield chunk
      }
    }
    const tmp = `tmp/${pkg.hashes.sha256}.${randomBytes(6).toString('hex')}.part`
    try {
      await writeBlob(this.blobs, tmp, metered())
      if (bytes !== pkg.length) throw new TufMetadataError(what, 'target-file', `the upload has ${bytes} bytes, the signed length is ${pkg.length}`)
      for (const h of hashes) {
        const digest = h.hash.digest('hex')
        if (digest !== pkg.hashes[h.name]) throw new TufMetadataError(what, 'target-file', `the upload's ${h.name} ${digest} is not the signed ${pkg.hashes[h.name]}`)
      }
      await this.blobs.rename(tmp, this.blobOf(pkg))
    } catch (error) {
      await this.blobs.delete(tmp)
      throw error
    }
    return {bytes}
  }

  /** Deletes temp parts a crash left behind (a live upload touches its part at every append). */
  async sweepParts(now = Date.now()): Promise<number> {
    let swept = 0
    for await (const part of this.blobs.list('tmp/')) {
      if (now - part.modifiedAt.getTime() < STALE_PART_MS) continue
      await this.blobs.delete(part.key)
      swept++
    }
    return swept
  }
}
