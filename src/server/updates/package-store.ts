import {createHash, randomBytes} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {mkdir, rename, rm, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {Transform} from 'node:stream'
import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {TufMetadataError} from '../../shared/tuf/index.js'

/** What the signed targets.json says about one package. */
export interface SignedPackage {
  path: string
  length: number
  hashes: Record<string, string>
}

const HASHES: Record<string, string> = {sha256: 'sha256', sha512: 'sha512'}

/**
 * Verified package bytes on disk, content-addressed (`targets/<sha256>`): two target paths with
 * the same bytes share one file, and a file is never replaced by different bytes under one name.
 * A body is streamed to a temp file and hashed as it is written (never whole in memory), compared
 * with the signed length and every signed hash, and only then renamed into place.
 */
export class PackageStore {
  constructor(private readonly storageDir: string) {}

  /** Relative location of a package's bytes, the `blob` column. */
  blobOf(pkg: Pick<SignedPackage, 'hashes'>): string {
    return join('targets', pkg.hashes.sha256)
  }

  pathOf(blob: string): string {
    return join(this.storageDir, blob)
  }

  async has(pkg: SignedPackage): Promise<boolean> {
    try {
      return (await stat(this.pathOf(this.blobOf(pkg)))).size === pkg.length
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw error
    }
  }

  async receive(pkg: SignedPackage, body: Readable): Promise<{bytes: number}> {
    const what = `targets[${pkg.path}]`
    const algorithms = Object.keys(pkg.hashes).filter((name) => HASHES[name])
    const hashes = algorithms.map((name) => ({name, hash: createHash(HASHES[name])}))
    let bytes = 0
    let tooLong = false
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length
        // Never more than the signed length on disk (TUF's endless-data attack, server side).
        if (bytes > pkg.length) {
          tooLong = true
          done(new TufMetadataError(what, 'target-file', `the upload is longer than the signed length ${pkg.length}`))
          return
        }
        for (const h of hashes) h.hash.update(chunk)
        done(null, chunk)
      },
    })
    await mkdir(join(this.storageDir, 'tmp'), {recursive: true, mode: 0o700})
    await mkdir(join(this.storageDir, 'targets'), {recursive: true, mode: 0o700})
    const tmp = join(this.storageDir, 'tmp', `${pkg.hashes.sha256}.${randomBytes(6).toString('hex')}.part`)
    try {
      await pipeline(body, meter, createWriteStream(tmp, {flags: 'wx', mode: 0o600, flush: true}))
      if (bytes !== pkg.length) throw new TufMetadataError(what, 'target-file', `the upload has ${bytes} bytes, the signed length is ${pkg.length}`)
      for (const h of hashes) {
        const digest = h.hash.digest('hex')
        if (digest !== pkg.hashes[h.name]) throw new TufMetadataError(what, 'target-file', `the upload's ${h.name} ${digest} is not the signed ${pkg.hashes[h.name]}`)
      }
      await rename(tmp, this.pathOf(this.blobOf(pkg)))
    } catch (error) {
      await rm(tmp, {force: true})
      if (tooLong && !(error instanceof TufMetadataError)) throw new TufMetadataError(what, 'target-file', `the upload is longer than the signed length ${pkg.length}`)
      throw error
    }
    return {bytes}
  }
}
