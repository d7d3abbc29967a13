import {createReadStream} from 'node:fs'
import {readdir, readFile, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {z} from 'zod'
import {writeFileAtomic} from '../../shared/atomic-file.js'
import {BundleFormat, MAX_UPLOAD_CHUNK_BYTES} from '../../protocol/agent/index.js'
import {JobFailure} from '../jobs/runner.js'
import {UploadHttpError, type UploadApi} from './upload-api.js'

/**
 * Resumable chunked upload of a spooled bundle. The state (server uploadId, committed offset)
 * is written to the spool after every chunk, so an upload interrupted by either side — a server
 * restart, a dropped link, the agent killed — continues from the offset the server says it
 * committed, never from 0. The server may commit less than was sent (whole encryption segments
 * only): the agent always continues from the server's number.
 *
 * A streamed upload starts while the bundle is still being collected: `size` and `sha256` are
 * null until the collection finished, and are declared with the final chunk. Non-final chunks
 * are sent only when at least one more byte of the bundle exists after them, so the final
 * chunk always carries the last byte (the server seals the last encryption segment from it).
 */
export const PendingUpload = z.object({
  localId: z.string(),
  file: z.string(),
  size: z.number().int().nonnegative().nullable(),
  sha256: z.string().nullable(),
  /** Spool entries from before zstd are tar.gz uploads declared up front. */
  format: BundleFormat.default('tar.gz'),
  streamed: z.boolean().default(false),
  jobId: z.string().optional(),
  since: z.string().optional(),
  uploadId: z.string().nullable(),
  offset: z.number().int().nonnegative(),
  /** The process working on it; another process only takes it over when this one is gone. */
  pid: z.number().int(),
  createdAt: z.string(),
})
export type PendingUpload = z.infer<typeof PendingUpload>

export class UploadStore {
  /** Saves of one entry in order: the collection and the upload both save it, and an older state must never land last. */
  private readonly saving = new Map<string, Promise<void>>()

  constructor(readonly dir: string) {}

  path(localId: string): string {
    return join(this.dir, `upload-${localId}.json`)
  }

  async save(state: PendingUpload): Promise<void> {
    const previous = this.saving.get(state.localId) ?? Promise.resolve()
    const next = previous.then(() => writeFileAtomic(this.path(state.localId), `${JSON.stringify(state)}\n`, 0o600))
    this.saving.set(state.localId, next.catch(() => undefined))
    try {
      await next
    } finally {
      if (this.saving.get(state.localId) === next) this.saving.delete(state.localId)
    }
  }

  async list(): Promise<PendingUpload[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
    const out: PendingUpload[] = []
    for (const name of names.filter((n) => /^upload-.+\.json$/.test(n))) {
      const parsed = PendingUpload.safeParse(JSON.parse(await readFile(join(this.dir, name), 'utf8').catch(() => 'null')))
      if (parsed.success) out.push(parsed.data)
    }
    return out
  }

  /** Done or abandoned: the state and the bundle leave the spool. */
  async remove(state: PendingUpload): Promise<void> {
    await rm(state.file, {force: true})
    await rm(this.path(state.localId), {force: true})
  }
}

export interface UploadOutcome {
  bundleId: string
  size: number
  sha256: string
  /** The committed offset the upload's last (re)start began at: > 0 after a resume (a new process, or a retry after a lost connection). */
  resumedFrom: number
  bytesSent: number
}

/** The server seals 1 MiB segments (src/server/logs/segments.ts); chunks of whole segments commit whole. */
const SEGMENT_BYTES = 1024 * 1024

/**
 * The next chunk of a streamed upload while the collection runs: what is ready (keeping the last
 * byte back for the final chunk), in whole segments, up to the largest chunk the server takes.
 * So the first bytes leave as soon as a segment exists, and on a slow link, where the
 * collection runs ahead, fewer and larger chunks mean fewer waits for the server's answer.
 */
export function streamedChunk(ready: number, chunkBytes: number): number {
  const whole = ready >= SEGMENT_BYTES ? Math.floor(ready / SEGMENT_BYTES) * SEGMENT_BYTES : ready
  return Math.max(1, Math.min(whole, Math.max(chunkBytes, MAX_UPLOAD_CHUNK_BYTES)))
}

/** The collection feeding a streamed upload (collect.ts GrowingBundle). */
export interface CollectionSource {
  waitFor(bytes: number, signal?: AbortSignal): Promise<void>
  readonly written: number
  readonly result: {size: number; sha256: string} | null
}

/** Records a finished collection in the upload's state (idempotent: the collector and the uploader both call it). */
export async function adoptCollected(store: UploadStore, state: PendingUpload, result: {size: number; sha256: string}): Promise<void> {
  if (state.size !== null) return
  state.size = result.size
  state.sha256 = result.sha256
  await store.save(state)
}

export interface UploadOptions {
  chunkBytes: number
  signal?: AbortSignal
  onProgress?: (done: number, total: number) => void
  /** Give up after this long without any committed progress (server gone for good). */
  stallMs?: number
  /** A streamed upload's collection in progress: waited on for more bytes; sets state.size/sha256 when done. */
  source?: CollectionSource
  /** First retry wait; doubles up to 10 s. */
  retryBaseMs?: number
}

export async function uploadBundle(api: UploadApi, store: UploadStore, state: PendingUpload, options: UploadOptions): Promise<UploadOutcome> {
  const stallMs = options.stallMs ?? 600_000
  let lastProgress = Date.now()
  let wait = options.retryBaseMs ?? 500
  let resumedFrom: number | undefined
  let bytesSent = 0
  // The server keeps whole encryption segments only: a chunk smaller than a segment commits
  // nothing. Then the chunk grows (up to the server's limit) instead of looping forever.
  let chunkBytes = options.chunkBytes
  const commit = async (offset: number): Promise<void> => {
    if (offset !== state.offset) {
      if (offset > state.offset) lastProgress = Date.now()
      state.offset = offset
      await store.save(state)
      options.onProgress?.(offset, state.size ?? options.source?.written ?? offset)
    }
  }
  for (;;) {
    options.signal?.throwIfAborted()
    try {
      let current
      if (state.uploadId === null) {
        const declared = state.streamed ? {format: state.format} : {size: state.size ?? 0, sha256: state.sha256 ?? ''}
        current = await api.create({...(state.jobId ? {jobId: state.jobId} : {}), ...declared, ...(state.since ? {since: state.since} : {})})
        state.uploadId = current.uploadId
        state.offset = current.offset
        await store.save(state)
      } else {
        current = await api.get(state.uploadId)
        if (current === null) {
          // The server forgot it (expired, discarded): start over rather than fail.
          state.uploadId = null
          state.offset = 0
          await store.save(state)
          continue
        }
        await commit(current.offset)
      }
      while (current.status !== 'complete') {
        options.signal?.throwIfAborted()
        resumedFrom ??= current.offset
        const start = current.offset
        // Still collecting: wait until a first piece (one server segment, or the chunk size if
        // smaller) and at least one byte after it exist.
        if (state.size === null && options.source) {
          await options.source.waitFor(start + Math.min(chunkBytes, SEGMENT_BYTES) + 1, options.signal)
          if (options.source.result) await adoptCollected(store, state, options.source.result)
        }
        if (state.size === null && !options.source) throw new JobFailure('COLLECTION_INTERRUPTED', 'the collection of this bundle did not finish; collect again')
        const end = state.size === null ? start + streamedChunk(options.source!.written - 1 - start, chunkBytes) : Math.min(state.size, start + chunkBytes)
        const final = state.streamed && state.size !== null && state.sha256 !== null && end === state.size ? {size: state.size, sha256: state.sha256} : undefined
        // 256 KiB reads: the default 64 KiB ones cost the agent ~20% more CPU per chunk; bigger
        // ones only add to the dead Buffers waiting for the garbage collector (peak RSS).
        const body = createReadStream(state.file, {start, end: end - 1, highWaterMark: 256 * 1024})
        bytesSent += end - start
        current = await api.put(state.uploadId, start, body, end - start, final)
        await commit(current.offset)
        if (current.offset <= start && current.status !== 'complete') {
          if (chunkBytes >= MAX_UPLOAD_CHUNK_BYTES) throw new JobFailure('UPLOAD_STALLED', `the server committed nothing of a ${chunkBytes}-byte chunk at offset ${start}`)
          chunkBytes = Math.min(MAX_UPLOAD_CHUNK_BYTES, chunkBytes * 2)
        }
        wait = options.retryBaseMs ?? 500
      }
      if (!current.bundleId) throw new JobFailure('UPLOAD_FAILED', 'the server completed the upload without a bundle id')
      if (state.size === null || state.sha256 === null) throw new JobFailure('UPLOAD_FAILED', 'the server completed the upload before the bundle was collected')
      return {bundleId: current.bundleId, size: state.size, sha256: state.sha256, resumedFrom: resumedFrom ?? state.size, bytesSent}
    } catch (error) {
      if (!(error instanceof UploadHttpError)) throw error
      // The next round starts again from what the server committed (a node that died mid-upload
      // leaves the rest to another): that is where this upload resumed, not where it first began.
      resumedFrom = undefined
      if (error.status === 422) throw new JobFailure('CHECKSUM_MISMATCH', `the server rejected the bundle: ${error.message}`)
      if (error.status === 404 && state.uploadId !== null) {
        state.uploadId = null
        state.offset = 0
        await store.save(state)
        continue
      }
      if (error.status === 409) continue // offset mismatch: resync with GET on the next round
      if (!error.transient) throw new JobFailure(error.code.slice(0, 64), error.message)
      if (Date.now() - lastProgress > stallMs) throw new JobFailure('UPLOAD_STALLED', `no upload progress for ${Math.round(stallMs / 1000)}s: ${error.message}`)
      await sleep(wait, undefined, {signal: options.signal})
      wait = Math.min(wait * 2, 10_000)
    }
  }
}
