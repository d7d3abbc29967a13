import {createHash, randomBytes} from 'node:crypto'
import {createWriteStream, fdatasync, type WriteStream} from 'node:fs'
import {rename, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {Transform, type Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {promisify} from 'node:util'
import {CONTENT_SHA256_HEADER} from '../protocol/api/logs.js'
import {OperationFailedError, TetherError} from '../shared/errors.js'
import {errorFromNetwork} from './http-errors.js'
import {BundleExtraction} from './logs-extract.js'
import type {JobsApi, LogBundle} from './jobs-api.js'

/**
 * The file is written back to disk as it arrives (one datasync at a time, every this many
 * bytes), so the fsync before the rename only has the tail left: a whole bundle flushed at the
 * end took ~0.35 s per GB here, on a fast disk, with the transfer idle.
 */
const WRITEBACK_BYTES = 32 * 1024 * 1024

export interface PullResult {
  bundle: LogBundle
  /** null when written to stdout or extracted. */
  file: string | null
  /** The directory the bundle was unpacked into (--extract), else null. */
  extractedTo: string | null
  bytes: number
  sha256: string
  elapsedMs: number
}

export interface PullProgress {
  start(total: number): void
  update(done: number): void
  stop(): void
}

/** Where a pull goes: a file path, a stream (stdout), or a directory to unpack into. */
export type PullDestination = string | Writable | {extract: string}

/**
 * Streams a decrypted bundle to a file (temp file + rename, never half-written), a stream, or
 * unpacked into a new directory (logs-extract.ts: staged, renamed once verified), hashing as
 * it goes; the SHA-256 must match the bundle's, else the file or directory is deleted and the
 * pull fails (exit 1). Constant memory whatever the size.
 */
export async function pullBundle(api: JobsApi, idOrBundle: string | LogBundle, destination: PullDestination, progress?: PullProgress): Promise<PullResult> {
  const started = performance.now()
  const bundle = typeof idOrBundle === 'string' ? await api.getBundle(idOrBundle) : idOrBundle
  const extraction = typeof destination === 'object' && 'extract' in destination ? await BundleExtraction.prepare(destination.extract, bundle.format) : null
  const dest = extraction ? null : (destination as string | Writable)
  try {
    const r = await download(api, bundle, dest ?? extraction!, progress, started)
    await extraction?.commit()
    return r
  } catch (error) {
    await extraction?.abandon()
    throw error
  }
}

async function download(api: JobsApi, bundle: LogBundle, dest: string | Writable | BundleExtraction, progress: PullProgress | undefined, started: number): Promise<PullResult> {
  let res
  try {
    res = await api.client.openStream(`/logs/${encodeURIComponent(bundle.id)}/content`)
  } catch (error) {
    if (error instanceof TetherError && error.details?.serverCode === 'BUNDLE_TAMPERED') {
      throw new OperationFailedError(`bundle ${bundle.id} failed verification on the server and was not served: ${error.message}`, {code: 'BUNDLE_TAMPERED', cause: error})
    }
    throw error
  }
  const header = res.headers[CONTENT_SHA256_HEADER]
  const expected = (Array.isArray(header) ? header[0] : header) ?? bundle.sha256
  const hash = createHash('sha256')
  let bytes = 0
  progress?.start(bundle.size)
  const tmp = typeof dest === 'string' ? join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString('hex')}.part`) : null
  // flush: fsync before close, so the rename never exposes unwritten data. Big writes: 16 KiB ones cost ~25%.
  const file: WriteStream | null = tmp ? createWriteStream(tmp, {flags: 'wx', mode: 0o600, flush: true, highWaterMark: 1 << 20}) : null
  let fd: number | null = null
  file?.once('open', (opened: number) => (fd = opened))
  let writeback: Promise<void> | null = null
  let writebackError: Error | null = null
  let synced = 0
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (writebackError) return done(writebackError)
      hash.update(chunk)
      bytes += chunk.length
      progress?.update(bytes)
      if (fd !== null && !writeback && bytes - synced >= WRITEBACK_BYTES) {
        synced = bytes
        // Settled here: a failure must not go unhandled until the next chunk or the end.
        writeback = datasync(fd).then(
          () => void (writeback = null),
          (error: Error) => void ((writebackError = error), (writeback = null)),
        )
      }
      done(null, chunk)
    },
    final(done) {
      // The file must not be closed under a datasync still running.
      void Promise.resolve(writeback).then(() => done(writebackError))
    },
  })
  try {
    if (file) await pipeline(res.body, meter, file)
    else if (dest instanceof BundleExtraction) await pipeline(res.body, meter, dest.sink())
    else await pipeline(res.body, meter, dest as Writable, {end: false})
  } catch (error) {
    progress?.stop()
    if (tmp) await rm(tmp, {force: true})
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') throw new OperationFailedError('the reader of stdout went away before the bundle was complete')
    if (error instanceof TetherError) throw error
    if (dest instanceof BundleExtraction && bytes === bundle.size) {
      throw new OperationFailedError(`bundle ${bundle.id} could not be unpacked (${(error as Error).message}); nothing was kept`, {code: 'EXTRACT_FAILED'})
    }
    // A stream cut short by the server is what a bundle failing verification mid-way looks like.
    throw new OperationFailedError(`the download of bundle ${bundle.id} broke off after ${bytes} of ${bundle.size} bytes (server error or damaged bundle); nothing was kept`, {
      cause: errorFromNetwork(api.client.server, error),
    })
  }
  progress?.stop()
  const sha256 = hash.digest('hex')
  if (sha256 !== expected || sha256 !== bundle.sha256 || bytes !== bundle.size) {
    if (tmp) await rm(tmp, {force: true})
    throw new OperationFailedError(`bundle ${bundle.id}: SHA-256 ${sha256} (${bytes} bytes) does not match ${bundle.sha256} (${bundle.size} bytes); ${tmp ? 'the file was deleted' : 'discard the output'}`, {
      code: 'CHECKSUM_MISMATCH',
    })
  }
  if (tmp && typeof dest === 'string') await rename(tmp, dest)
  const extractedTo = dest instanceof BundleExtraction ? dest.dir : null
  return {bundle, file: typeof dest === 'string' ? dest : null, extractedTo, bytes, sha256, elapsedMs: performance.now() - started}
}

const datasync = promisify(fdatasync)

/** A cli-progress bar on stderr when it is a terminal; nothing otherwise (scripts, cron). */
export async function terminalProgress(label: string): Promise<PullProgress | undefined> {
  if (!process.stderr.isTTY) return undefined
  return progressBar(label, process.stderr)
}

/** The bar itself, drawn on `stream` (redrawn at most every 100 ms). */
export async function progressBar(label: string, stream: NodeJS.WritableStream): Promise<PullProgress> {
  const {SingleBar, Presets} = await import('cli-progress')
  const bar = new SingleBar(
    {stream, format: `${label} [{bar}] {percentage}% | {value_mb}/{total_mb} MB | {speed} MB/s`, hideCursor: true, clearOnComplete: false},
    Presets.shades_classic,
  )
  const t0 = performance.now()
  const mb = (n: number) => (n / 1e6).toFixed(1)
  let lastDraw = 0
  let latest = 0
  const draw = (done: number): void => bar.update(done, {value_mb: mb(done), speed: (done / 1e6 / Math.max(0.001, (performance.now() - t0) / 1000)).toFixed(1)})
  return {
    start: (total) => bar.start(total, 0, {value_mb: mb(0), total_mb: mb(total), speed: '0'}),
    update: (done) => {
      latest = done
      const now = performance.now()
      if (now - lastDraw < 100) return
      lastDraw = now
      draw(done)
    },
    // The last chunks usually fall inside the 100 ms throttle: draw the final count before
    // stopping, so a complete download ends at 100% (a broken one at what arrived).
    stop: () => {
      draw(latest)
      bar.stop()
    },
  }
}
