import {createHash, type Hash, randomBytes, randomUUID} from 'node:crypto'
import type {Readable} from 'node:stream'
import type {Kysely} from 'kysely'
import {type CreateUploadRequest, MAX_BUNDLE_BYTES, type UploadState} from '../../protocol/agent/jobs.js'
import {ConflictError, NotFoundError, TetherError, UsageError} from '../../shared/errors.js'
import type {BlobStore, BlobWriter} from '../blobs/blob-store.js'
import type {Database, LogUpload} from '../db/schema.js'
import {type Keyring, unwrapDataKey, wrapDataKey} from './keys.js'
import {decryptBlob} from './bundle-reader.js'
import {pastEnd, reconcile, view} from './upload-file.js'
import {DEFAULT_SEGMENT_BYTES, newHeader, type SegmentHeader, sealSegmentParts, segmentCount, segmentOffset} from './segments.js'

export interface LogsSettings {
  region: string
  retentionDays: number
}

export interface UploadOwner {
  serial: string
  customerId: string
}

export interface NewUpload extends CreateUploadRequest {
  initiator: 'user' | 'device'
  requestedBy: string | null
}

/** What the final chunk of a streamed upload declares about the whole bundle. */
export interface FinalDeclaration {
  size: number
  sha256: string
}

/**
 * Called once when an upload completed and its SHA-256 matched: it must run markComplete on the
 * transaction that also records the upload's audit event, so the two commit together.
 */
export type CompletionListener = (upload: LogUpload, markComplete: (trx: Kysely<Database>) => Promise<void>) => Promise<void>

/**
 * Resumable, encrypted-as-it-arrives uploads (docs/logs.md). Plaintext never touches the disk:
 * each whole segment is sealed and appended; a chunk's trailing partial segment is dropped, so
 * the committed offset is always a segment boundary (or the end) and the agent resumes there.
 * The blob (src/server/blobs) is the source of truth for the committed offset: after a crash
 * mid-write, a torn last segment is cut off when the upload is next touched. With PostgreSQL
 * blobs the partial upload lives in the database, so the agent resumes it on any node.
 */
export class UploadStore {
  /** Running SHA-256 per upload while chunks arrive in order on this node (else recomputed). */
  private readonly hashes = new Map<string, {hash: Hash; at: number}>()
  private readonly busy = new Set<string>()

  constructor(
    private readonly db: Kysely<Database>,
    private readonly keyring: () => Promise<Keyring>,
    private readonly blobs: BlobStore,
    private readonly settings: LogsSettings,
    private readonly segmentBytes = DEFAULT_SEGMENT_BYTES,
  ) {}

  async create(owner: UploadOwner, input: NewUpload): Promise<UploadState> {
    // Declared up front (both) or streamed (neither, declared on the final chunk).
    if ((input.size === undefined) !== (input.sha256 === undefined)) throw new UsageError('size and sha256 go together: both (declared up front) or neither (streamed, declared on the final chunk)', {details: {field: input.size === undefined ? 'size' : 'sha256'}})
    const streamed = input.size === undefined
    // A job's earlier upload that never finished (the agent restarted its collection) can never
    // complete any more: it goes now rather than at the stale-upload sweep.
    if (input.jobId) {
      const earlier = await this.db.selectFrom('log_uploads').selectAll().where('job_id', '=', input.jobId).where('serial', '=', owner.serial).where('status', '=', 'open').execute()
      for (const row of earlier) if (!this.busy.has(row.id)) await this.discard(row)
    }
    const id = randomUUID()
    const now = new Date().toISOString()
    const keyring = await this.keyring()
    const dataKey = randomBytes(32)
    const file = `uploads/${id}.tlb`
    await this.blobs.create(file, newHeader(this.segmentBytes).raw)
    await this.db
      .insertInto('log_uploads')
      .values({
        id,
        serial: owner.serial,
        customer_id: owner.customerId,
        job_id: input.jobId ?? null,
        initiator: input.initiator,
        requested_by: input.requestedBy,
        since: input.since ?? null,
        size: input.size ?? 0,
        sha256: input.sha256 ?? '',
        format: input.format ?? 'tar.gz',
        streamed: streamed ? 1 : 0,
        committed: 0,
        status: 'open',
        region: this.settings.region,
        key_id: keyring.current.id,
        wrapped_key: wrapDataKey(keyring.current, dataKey, id),
        file,
        created_at: now,
        updated_at: now,
        completed_at: null,
      })
      .execute()
    this.hashes.set(id, {hash: createHash('sha256'), at: 0})
    return {uploadId: id, size: input.size ?? null, offset: 0, status: 'open', bundleId: null}
  }

  async get(owner: UploadOwner, id: string): Promise<UploadState> {
    const upload = await this.find(owner, id)
    if (upload.status === 'complete') return view(upload, upload.size)
    if (this.busy.has(id)) return view(upload, upload.committed)
    const writer = await this.openData(upload)
    try {
      return view(upload, (await reconcile(writer, upload)).committed)
    } finally {
      await writer.close()
    }
  }

  /**
   * Appends a chunk that starts at `offset` (must be the committed offset). Whole segments are
   * sealed and written as they fill; on a broken stream the segments written so far stay
   * committed. Completes the upload when the last byte arrived. `length` (the Content-Length,
   * when the chunk has one) lets a chunk that would run past the declared size be refused
   * before any of it is read. A streamed upload learns its size and SHA-256 from the final chunk
   * (`final`); before that no segment is sealed as the last one and the upload cannot complete.
   */
  async write(owner: UploadOwner, id: string, offset: number, body: Readable, onComplete: CompletionListener, length?: number, final?: FinalDeclaration): Promise<UploadState> {
    const found = await this.find(owner, id)
    if (found.status === 'complete') throw new ConflictError(`upload ${id} is already complete`, {code: 'UPLOAD_COMPLETE'})
    // Until its final chunk, a streamed upload is bounded by the largest bundle accepted.
    const streaming = found.streamed === 1 && !final
    const upload = found.streamed === 1 ? {...found, size: final?.size ?? MAX_BUNDLE_BYTES, sha256: final?.sha256 ?? ''} : found
    if (final && found.streamed === 1 && offset >= final.size) throw new UsageError(`the final chunk must carry the bundle's last byte: it starts at ${offset}, the declared size is ${final.size}`, {details: {field: 'size'}})
    if (final && found.streamed === 1 && length !== undefined && offset + length !== final.size) throw new UsageError(`the final chunk ends at byte ${offset + length}, not at the declared size ${final.size}`, {details: {field: 'size'}})
    if (this.busy.has(id)) throw new ConflictError(`upload ${id} is receiving another chunk`, {code: 'UPLOAD_BUSY'})
    this.busy.add(id)
    try {
      // One open per chunk: the committed offset, the header and the appends share the writer.
      const writer = await this.openData(upload)
      let key: Buffer
      let reached: number
      try {
        const {committed, header} = await reconcile(writer, upload)
        if (offset !== committed) throw new ConflictError(`offset ${offset} is not the committed offset ${committed}`, {code: 'OFFSET_MISMATCH', details: {offset: committed}})
        if (length !== undefined && offset + length > upload.size) throw pastEnd(`chunk ends at byte ${offset + length}, past the declared size ${upload.size}`)
        key = unwrapDataKey(await this.keyring(), upload.key_id, upload.wrapped_key, upload.id)
        reached = await this.append(upload, key, writer, header, committed, body, !streaming)
      } finally {
        await writer.close()
      }
      await this.db.updateTable('log_uploads').set({committed: reached, updated_at: new Date().toISOString()}).where('id', '=', id).execute()
      if (streaming || reached < upload.size) return view(found, reached)
      return view(await this.complete(upload, key, onComplete), upload.size)
    } finally {
      this.busy.delete(id)
    }
  }

  private async append(upload: LogUpload, key: Buffer, writer: BlobWriter, header: SegmentHeader, start: number, body: Readable, mayFinish: boolean): Promise<number> {
    const seg = header.segmentBytes
    const total = segmentCount(upload.size, seg)
    const running = this.hashes.get(upload.id)
    const hash = running && running.at === start ? running.hash : undefined
    // Put back only when this chunk ends cleanly: the hash runs ahead of the writes.
    this.hashes.delete(upload.id)
    // The chunks before this one go to disk while this one arrives: the sync at completion then
    // has only the last chunk left, not the whole bundle (~0.35 s per GB here, with the agent
    // waiting for the answer). Settled here, so a failure never goes unhandled meanwhile.
    const writeback = start > 0 ? writer.flush().then(() => undefined, (error: Error) => error) : undefined
    const buffer = Buffer.allocUnsafe(seg)
    let fill = 0
    let sealed = start
    let committed = start
    // One write in flight: segment i+1 is received and sealed while segment i is written (else
    // the socket waits for the disk once per segment). Writes are issued in order, each after
    // the previous one completed, so the file still only ever grows by whole sealed segments.
    let writing: Promise<void> = Promise.resolve()
    let failure: Error | undefined
    let oversized = false
    const settle = async (): Promise<void> => {
      await writing
      if (failure) throw failure
    }
    const flush = async (final: boolean): Promise<void> => {
      const index = sealed / seg
      const plain = buffer.subarray(0, fill)
      hash?.update(plain)
      const parts = sealSegmentParts(key, header, index, final, plain)
      const end = sealed + fill
      sealed = end
      fill = 0
      await settle()
      // Settled here, not by whoever awaits later: a rejection must never go unhandled meanwhile.
      writing = writer.append(parts, segmentOffset(index, seg)).then(
        () => {
          committed = end
        },
        (error: Error) => {
          failure ??= error
        },
      )
    }
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        let at = 0
        while (at < chunk.length) {
          const n = Math.min(chunk.length - at, seg - fill, upload.size - sealed - fill)
          if (n === 0) {
            oversized = true
            throw pastEnd(`chunk from byte ${start} runs past the declared size ${upload.size}`)
          }
          chunk.copy(buffer, fill, at, at + n)
          fill += n
          at += n
          const last = mayFinish && sealed / seg === total - 1
          if (fill === seg || (last && sealed + fill === upload.size)) await flush(last && sealed + fill === upload.size)
        }
      }
      await settle()
    } catch (error) {
      // A broken chunk keeps the whole segments already written (a short final one is cut, as
      // reconcile would); an oversized chunk is a bad request and is undone whole, so the upload
      // stays exactly where it was. `start` is a segment boundary (reconcile), `committed` may
      // be the end of a short final segment.
      await writing
      const keep = oversized ? start : Math.floor(committed / seg) * seg
      try {
        await writer.rollback(segmentOffset(keep / seg, seg))
      } catch (rollbackError) {
        // Another node's request for this upload appended meanwhile: its bytes stay, the agent resyncs.
        if (rollbackError instanceof ConflictError) throw busy(upload.id, rollbackError)
        throw rollbackError
      }
      if (failure instanceof ConflictError) throw busy(upload.id, failure)
      await this.failOnLostWrites(upload, await writeback)
      await this.db.updateTable('log_uploads').set({committed: keep, updated_at: new Date().toISOString()}).where('id', '=', upload.id).execute()
      throw error
    }
    await this.failOnLostWrites(upload, await writeback)
    if (hash) this.hashes.set(upload.id, {hash, at: committed})
    // The partial tail of a non-final segment is dropped: the agent resends it from `committed`.
    // No fsync waited for per chunk: the file length is the committed offset (reconcile), so
    // after a power loss the agent is told the real offset (409, then GET) and resends; the file
    // is synced when complete, and the SHA-256 check at the end catches anything else.
    if (committed === upload.size) await writer.sync()
    return committed
  }

  /**
   * A failed datasync means earlier chunks may be missing on disk although the file length
   * counts them, and the kernel reports that once only (the sync at completion would pass):
   * the upload cannot be trusted any more. A plain Error is a 500; the agent's next GET gets a
   * 404 and it starts a new upload.
   */
  private async failOnLostWrites(upload: LogUpload, error: Error | undefined): Promise<void> {
    if (!error) return
    await this.discard(upload)
    throw new Error(`writing upload ${upload.id} to disk failed (${error.message}); upload discarded`, {cause: error})
  }

  private async complete(upload: LogUpload, key: Buffer, onComplete: CompletionListener): Promise<LogUpload> {
    const running = this.hashes.get(upload.id)
    this.hashes.delete(upload.id)
    let digest: string
    if (running && running.at === upload.size) digest = running.hash.digest('hex')
    else {
      // Chunks arrived across a restart or another node: hash the stored bundle once.
      const hash = createHash('sha256')
      for await (const plain of decryptBlob(this.blobs, upload.file, key, upload.size)) hash.update(plain)
      digest = hash.digest('hex')
    }
    if (digest !== upload.sha256) {
      await this.discard(upload)
      throw new TetherError(`the uploaded bundle's SHA-256 ${digest} is not the declared ${upload.sha256}; upload discarded, start a new one`, {
        code: 'CHECKSUM_MISMATCH',
      })
    }
    const file = `bundles/${upload.id}.tlb`
    await this.blobs.rename(upload.file, file)
    const now = new Date().toISOString()
    const done = {...upload, status: 'complete' as const, committed: upload.size, file, completed_at: now, updated_at: now}
    await onComplete(done, async (trx) => {
      await trx.updateTable('log_uploads').set({status: 'complete', size: upload.size, sha256: upload.sha256, committed: upload.size, file, completed_at: now, updated_at: now}).where('id', '=', upload.id).execute()
    })
    return done
  }

  async discard(upload: LogUpload): Promise<void> {
    await this.blobs.delete(upload.file)
    await this.db.deleteFrom('log_uploads').where('id', '=', upload.id).execute()
    this.hashes.delete(upload.id)
  }

  private async openData(upload: LogUpload): Promise<BlobWriter> {
    try {
      return await this.blobs.open(upload.file)
    } catch (error) {
      if (error instanceof NotFoundError) throw new NotFoundError(`upload ${upload.id} has no stored data any more; start a new upload`, {cause: error})
      throw error
    }
  }

  private async find(owner: UploadOwner, id: string): Promise<LogUpload> {
    const row = await this.db.selectFrom('log_uploads').selectAll().where('id', '=', id).executeTakeFirst()
    // Another device's upload is invisible, like an out-of-scope object.
    if (!row || row.serial !== owner.serial) throw new NotFoundError(`no upload ${id}`)
    return {...row, size: Number(row.size), committed: Number(row.committed)}
  }
}

/** A 409 the agent answers with a GET and a resend from the offset it is told. */
function busy(id: string, cause: Error): ConflictError {
  return new ConflictError(`upload ${id} is being written by another request (another node?); ask for the offset again`, {code: 'UPLOAD_BUSY', cause})
}
