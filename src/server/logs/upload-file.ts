import type {UploadState} from '../../protocol/agent/jobs.js'
import {TetherError, UsageError} from '../../shared/errors.js'
import type {BlobWriter} from '../blobs/blob-store.js'
import type {LogUpload} from '../db/schema.js'
import {HEADER_BYTES, parseHeader, type SegmentHeader, segmentOffset, TAG_BYTES} from './segments.js'

/** Helpers of upload-store.ts: the upload blob's committed length, and the answers to the agent. */

/** The committed offset from the blob; a torn trailing segment (crash mid-write) is cut off. */
export async function reconcile(writer: BlobWriter, upload: LogUpload): Promise<{committed: number; header: SegmentHeader}> {
  const size = await writer.length()
  const header = await readHeader(writer)
  const seg = header.segmentBytes
  const whole = Math.floor(Math.max(0, size - HEADER_BYTES) / (seg + TAG_BYTES))
  if (size !== segmentOffset(whole, seg)) await writer.truncate(segmentOffset(whole, seg))
  return {committed: upload.streamed === 1 ? whole * seg : Math.min(whole * seg, upload.size), header}
}

async function readHeader(writer: BlobWriter): Promise<SegmentHeader> {
  const raw = await writer.readAt(0, HEADER_BYTES)
  if (raw.length !== HEADER_BYTES) throw new TetherError(`${writer.key}: truncated header`, {code: 'BUNDLE_TAMPERED'})
  return parseHeader(raw)
}

/** A 400 naming the body: the agent sent more than it declared (a bug on its side, not a retry). */
export function pastEnd(message: string): UsageError {
  return new UsageError(message, {details: {field: 'body'}})
}

export function view(upload: LogUpload, offset: number): UploadState {
  const size = upload.streamed === 1 && upload.status === 'open' ? null : upload.size
  return {uploadId: upload.id, size, offset, status: upload.status, bundleId: upload.status === 'complete' ? upload.id : null}
}
