import {randomBytes} from 'node:crypto'
import {mkdir, rename, rm, stat} from 'node:fs/promises'
import {basename, dirname, isAbsolute, join, posix} from 'node:path'
import type {Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'
import {Unpack} from 'tar'
import {DecompressStream} from 'zstd-napi'
import {OperationFailedError, UsageError} from '../shared/errors.js'

/** Bundle formats and how to undo their compression (a registry: one entry per format). */
const DECOMPRESSORS: Record<string, () => Transform> = {
  'tar.gz': () => createGunzip(),
  'tar.zst': () => new DecompressStream(),
}

/** Entry types a log bundle may hold; devices, FIFOs and the like are refused. */
const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link'])

/**
 * `tether logs pull --extract DIR`: the bundle is unpacked while it downloads (no `tar` with
 * zstd needed), into a staging directory next to DIR that becomes DIR only once the SHA-256 of
 * the whole bundle matched, so DIR appears complete or not at all. Entries whose path leaves
 * DIR (absolute, `..`), links pointing out of it, and special files are refused: the pull
 * fails (exit 1) and nothing is kept.
 */
export class BundleExtraction {
  readonly staging: string

  private constructor(
    readonly dir: string,
    readonly format: string,
  ) {
    this.staging = join(dirname(dir), `.${basename(dir)}.${randomBytes(6).toString('hex')}.part`)
  }

  /** Checks DIR before anything is downloaded. */
  static async prepare(dir: string, format: string): Promise<BundleExtraction> {
    if (!DECOMPRESSORS[format]) throw new OperationFailedError(`bundle format "${format}" cannot be extracted by this tether; pull it to a file instead`, {code: 'UNKNOWN_FORMAT'})
    const existing = await stat(dir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : Promise.reject(error)))
    if (existing) throw new UsageError(`--extract ${dir}: it already exists; name a directory that does not exist yet (it is created complete or not at all)`, {details: {field: 'extract'}})
    const extraction = new BundleExtraction(dir, format)
    await mkdir(extraction.staging, {recursive: true, mode: 0o700})
    return extraction
  }

  /** The last stage of the download pipeline: decompress and unpack, refusing escapes. */
  sink(): (source: AsyncIterable<Buffer>) => Promise<void> {
    return async (source) => {
      const decompress = DECOMPRESSORS[this.format]!()
      let refused: Error | null = null
      const unpack = new Unpack({
        cwd: this.staging,
        strict: true,
        // Owner and mode bits from the device are not wanted on the engineer's machine.
        preserveOwner: false,
        filter: (path, entry) => {
          const why = refused ? null : escapes(path, 'type' in entry ? entry.type : 'File', 'linkpath' in entry ? entry.linkpath : undefined)
          if (why) refused = new OperationFailedError(`the bundle's entry "${path}" ${why}: refused, nothing was extracted`, {code: 'UNSAFE_ENTRY'})
          return !refused
        },
      })
      const done = new Promise<void>((resolve, reject) => {
        unpack.on('close', () => resolve())
        unpack.on('error', reject)
      })
      try {
        await pipeline(source, decompress, async (plain: AsyncIterable<Buffer>) => {
          for await (const chunk of plain) {
            if (refused) throw refused
            if (!unpack.write(chunk)) await new Promise((resolve) => unpack.once('drain', resolve))
          }
        })
      } catch (error) {
        // Let the unpacker finish what it started before the caller removes the staging dir.
        unpack.end()
        await done.catch(() => undefined)
        throw error
      }
      unpack.end()
      await done
      if (refused) throw refused
    }
  }

  /** The bundle verified: staging becomes DIR. */
  async commit(): Promise<void> {
    await rename(this.staging, this.dir)
  }

  async abandon(): Promise<void> {
    await rm(this.staging, {recursive: true, force: true})
  }
}

/** Why an entry would land outside DIR, or null when it stays inside. */
export function escapes(path: string, type: string, linkpath?: string): string | null {
  if (!ALLOWED_TYPES.has(type)) return `is a ${type}, not a file, directory or link`
  const clean = path.replaceAll('\\', '/')
  if (isAbsolute(clean) || /^[a-zA-Z]:/.test(clean)) return 'has an absolute path'
  if (clean.split('/').includes('..')) return 'climbs out of the directory (..)'
  if (type === 'SymbolicLink' || type === 'Link') {
    const target = (linkpath ?? '').replaceAll('\\', '/')
    if (target === '' || isAbsolute(target)) return `links to an absolute path (${target || 'empty'})`
    // A symlink resolves from its own directory, a hard link from the archive's root.
    const resolved = posix.normalize(type === 'SymbolicLink' ? posix.join(posix.dirname(clean), target) : target)
    if (resolved === '..' || resolved.startsWith('../')) return `links out of the directory (${target})`
  }
  return null
}
