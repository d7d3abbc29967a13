import {createHash, randomUUID} from 'node:crypto'
import {type FileHandle, mkdir, open, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable, Transform, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {create as createTar} from 'tar'
import {JobFailure} from '../jobs/runner.js'
import {ParallelZstd} from './parallel-zstd.js'
import {expandSources, type SourceFile} from './sources.js'

/**
 * A log collection: the matching files packed into a tar, zstd'd on every core
 * (parallel-zstd.ts), streamed into the spool file while its SHA-256 and size are computed.
 * The upload reads the spool file as it grows (GrowingBundle.waitFor), so chunks leave while
 * later files are still being read and compressed; the spool file is also what the agent
 * keeps until the server acknowledged it. Paths in the archive are the absolute source paths
 * without the leading slash (var/log/device/x.log).
 */
export interface CollectedBundle {
  size: number
  sha256: string
}

export interface CollectOptions {
  /** Names the spool file (bundle-ID.tar.zst); the caller's upload state uses the same id. */
  localId?: string
  sources: string[]
  baseDir: string
  spoolDir: string
  sinceMs?: number
  maxBytes: number
  zstdLevel?: number
  signal?: AbortSignal
  /**
   * Runs when the collection ended, before the uploader learns of it: what it records (the
   * state with the size, the audit event) is then always in place before the final chunk.
   */
  onSettled?: (result: CollectedBundle | null, error: Error | null) => Promise<void>
}

/** The spool file of a collection in progress: how much of it is written, and how it ended. */
export class GrowingBundle {
  /** Bytes written to the spool file (readable by the uploader). */
  written = 0
  result: CollectedBundle | null = null
  error: Error | null = null
  private waiters: Array<() => void> = []

  constructor(
    readonly localId: string,
    readonly file: string,
    readonly files: number,
    readonly sourceBytes: number,
  ) {}

  /** Resolves once `bytes` are written or the collection finished; rejects if it failed. */
  async waitFor(bytes: number, signal?: AbortSignal): Promise<void> {
    while (this.written < bytes && !this.result) {
      if (this.error) throw this.error
      signal?.throwIfAborted()
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', wake)
          resolve()
        }
        this.waiters.push(wake)
        signal?.addEventListener('abort', wake, {once: true})
      })
    }
    if (this.error) throw this.error
  }

  grew(bytes: number): void {
    this.written += bytes
    this.wake()
  }

  finish(result: CollectedBundle | null, error: Error | null): void {
    this.result = result
    this.error = error
    this.wake()
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}

/**
 * Finds the files (failing before anything is created when there are none), then starts
 * packing them into the spool. `done` settles when the bundle is complete (or failed: the
 * same error also reaches waitFor).
 */
export async function startCollection(options: CollectOptions): Promise<{bundle: GrowingBundle; done: Promise<CollectedBundle>}> {
  if (options.sources.length === 0) throw new JobFailure('NO_LOG_SOURCES', 'this device names no log sources (agent.json logSources)')
  const files = await expandSources(options.sources, {baseDir: options.baseDir, sinceMs: options.sinceMs})
  if (files.length === 0) throw new JobFailure('NO_LOG_FILES', `no files match the log sources${options.sinceMs === undefined ? '' : ' modified since the given time'} (${options.sources.join(', ')})`)
  await mkdir(options.spoolDir, {recursive: true, mode: 0o700})
  const localId = options.localId ?? randomUUID()
  const file = spoolFile(options.spoolDir, localId)
  const bundle = new GrowingBundle(localId, file, files.length, sumSizes(files))
  const handle = await open(file, 'wx', 0o600)
  const settle = async (result: CollectedBundle | null, error: Error | null): Promise<void> => {
    try {
      await options.onSettled?.(result, error)
    } catch (hookError) {
      error ??= hookError as Error
      result = null
    }
    bundle.finish(error ? null : result, error)
    if (error) throw error
  }
  const done = pack(files, handle, bundle, options).then(
    async (result) => {
      await settle(result, null)
      return result
    },
    async (error: Error) => {
      // A collection cut short is of no use to anyone (it cannot be continued): it leaves the spool.
      await rm(file, {force: true})
      await settle(null, error)
      throw error
    },
  )
  // The caller awaits `done` or a waitFor; this keeps a failure from counting as unhandled meanwhile.
  done.catch(() => undefined)
  return {bundle, done}
}

async function pack(files: SourceFile[], handle: FileHandle, bundle: GrowingBundle, options: CollectOptions): Promise<CollectedBundle> {
  const hash = createHash('sha256')
  let size = 0
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length
      if (size > options.maxBytes) return done(new JobFailure('BUNDLE_TOO_LARGE', `the log bundle exceeds the spool bound of ${options.maxBytes} bytes; use a shorter --since or fewer sources`))
      hash.update(chunk)
      done(null, chunk)
    },
  })
  try {
    const tar = Readable.from(createTar({cwd: '/', portable: true, strict: true, maxReadSize: 256 * 1024}, files.map((f) => f.path.replace(/^\/+/, ''))))
    await pipeline(tar, new ParallelZstd({level: options.zstdLevel ?? 1}), tap, spoolWriter(handle, bundle), {signal: options.signal})
    // On disk before the final chunk declares it: a power loss after the server completed the
    // bundle must not leave the agent resuming from a spool file that lost its tail.
    await handle.datasync()
  } finally {
    await handle.close()
  }
  return {size, sha256: hash.digest('hex')}
}

/** Appends to the spool file, telling the bundle after each write so the uploader can read on. */
function spoolWriter(handle: FileHandle, bundle: GrowingBundle): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, done) {
      handle.write(chunk, 0, chunk.length, bundle.written).then(({bytesWritten}) => {
        if (bytesWritten !== chunk.length) return done(new Error(`short write to the spool (${bytesWritten} of ${chunk.length} bytes): disk full?`))
        bundle.grew(bytesWritten)
        done()
      }, done)
    },
  })
}

function sumSizes(files: SourceFile[]): number {
  return files.reduce((n, f) => n + f.size, 0)
}

export function spoolFile(spoolDir: string, localId: string): string {
  return join(spoolDir, `bundle-${localId}.tar.zst`)
}
