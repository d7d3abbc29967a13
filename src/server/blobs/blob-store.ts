import type {Readable} from 'node:stream'
import {UsageError} from '../../shared/errors.js'

/**
 * Where the server keeps opaque bytes that must outlive a request: log bundles and uploads in
 * progress (already sealed by src/server/logs; the store never sees plaintext) and update
 * packages. Keys are relative, slash-separated paths (`bundles/<id>.tlb`, `targets/<sha256>`):
 * the local store maps them onto its directory exactly as the files were laid out before blob
 * stores existed, so an existing data dir keeps working.
 *
 * Writes are appends at the committed end, which is what resumable uploads need: the committed
 * length is what a client resumes from, a torn tail is cut with truncate, and a finished upload
 * is renamed into place. Implementations: LocalBlobStore (one node) and PostgresBlobStore (every
 * node reads every blob); chosen by `storage.blobs` (registry.ts).
 */
export interface BlobStore {
  readonly backend: BlobBackend
  /** A new blob holding `initial`; ConflictError when the key exists. */
  create(key: string, initial?: Buffer): Promise<void>
  /** A writer on an existing blob; NotFoundError when there is none. Close it when done. */
  open(key: string): Promise<BlobWriter>
  /** undefined when there is no such blob. */
  stat(key: string): Promise<BlobStat | undefined>
  /**
   * The bytes from `start` to `end` (inclusive, like fs.createReadStream), streamed in pieces of
   * bounded size: never the whole blob in memory. NotFoundError (on first read) when missing.
   */
  read(key: string, range?: {start?: number; end?: number}): Readable
  /** Moves a blob to a new key, replacing whatever was there (content-addressed callers rely on it). */
  rename(from: string, to: string): Promise<void>
  /** Removes a blob; no error when it is already gone. */
  delete(key: string): Promise<void>
  /** Blobs whose key starts with `prefix` (a folder such as `tmp/`), for sweeps. */
  list(prefix: string): AsyncIterable<BlobStat>
}

export interface BlobWriter {
  readonly key: string
  /** The committed length now (what a resumed upload continues from). */
  length(): Promise<number>
  /** Up to `length` bytes from `position` (a header, a segment being checked). */
  readAt(position: number, length: number): Promise<Buffer>
  /**
   * Appends `parts` at `at`, which must be the committed length: a writer on another node that
   * got there first makes this a ConflictError, never interleaved bytes. Only whole appends
   * become visible (PostgreSQL) or are counted by length() (local: a torn one is cut by the caller).
   */
  append(parts: Buffer[], at: number): Promise<void>
  /** Cuts the blob to `length` bytes. */
  truncate(length: number): Promise<void>
  /**
   * Undoes this writer's own appends back to `length` (a chunk that broke off). Local: a plain
   * truncate (an append may have been torn half-way; one node, one writer). PostgreSQL: only if
   * nobody appended since this writer's last append, else ConflictError and nothing is cut: a
   * request on another node has taken the blob over and its bytes must stay.
   */
  rollback(length: number): Promise<void>
  /**
   * Starts pushing what was appended so far to stable storage while more arrives (local:
   * fdatasync). PostgreSQL appends are durable when their transaction commits: a no-op there.
   */
  flush(): Promise<void>
  /** Everything appended is durable once this resolves. */
  sync(): Promise<void>
  close(): Promise<void>
}

export interface BlobStat {
  key: string
  size: number
  /** Last append, truncate or rename. */
  modifiedAt: Date
}

export type BlobBackend = 'local' | 'postgres'
export const BLOB_BACKENDS: readonly BlobBackend[] = ['local', 'postgres']

/**
 * Keys come from our own code (row ids, hashes), but a key is also a file path for the local
 * store: anything that could leave its directory is refused outright.
 */
export function checkKey(key: string): string {
  if (key.length === 0 || key.length > 512 || key.startsWith('/') || key.includes('\\') || key.includes('\0') || key.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new UsageError(`blob key "${key}" is not a relative path of plain names`, {details: {field: 'key'}})
  }
  return key
}

/**
 * Writes a whole stream as a new blob under `key`, in appends of about `pieceBytes`, and syncs
 * it. A temp key plus rename (the caller's job) makes it appear whole or not at all.
 */
export async function writeBlob(store: BlobStore, key: string, body: AsyncIterable<Buffer>, pieceBytes = 1024 * 1024): Promise<number> {
  await store.create(key)
  const writer = await store.open(key)
  let at = 0
  let pending: Buffer[] = []
  let pendingBytes = 0
  const push = async (): Promise<void> => {
    if (pendingBytes === 0) return
    await writer.append(pending, at)
    at += pendingBytes
    pending = []
    pendingBytes = 0
  }
  try {
    for await (const chunk of body) {
      pending.push(chunk)
      pendingBytes += chunk.length
      if (pendingBytes >= pieceBytes) await push()
    }
    await push()
    await writer.sync()
  } finally {
    await writer.close()
  }
  return at
}
