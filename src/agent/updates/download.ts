import {mkdir, open, rename, rm, stat} from 'node:fs/promises'
import {basename, join} from 'node:path'
import {AGENT_UPDATES_TARGETS_PATH} from '../../protocol/updates/index.js'
import {writeFileAtomic} from '../../shared/atomic-file.js'
import type {UpdatesHttp} from './http.js'
import type {UpdateFiles} from './paths.js'
import {TufCheckError, UpdatesNetworkError} from './tuf-client.js'

/**
 * The package download: HTTP Range resume into a partial file in the data dir. The partial file's
 * size is the resume offset, so a download cut by a dropped link, a kill -9 or a reboot continues
 * where it stopped instead of starting over. Never more than the signed length is read: a server
 * that sends more is cut off and the update refused (TUF's endless-data attack). The file is only
 * trusted after the signed hashes matched (verify.ts); a corrupt partial is thrown away then.
 */
export interface SignedDownload {
  targetPath: string
  length: number
  /** The signed sha256: names the download, so a different target never continues another's bytes. */
  sha256: string
}

export interface DownloadResult {
  path: string
  /** Bytes already on disk when this run started (0: a fresh download). */
  resumedFrom: number
  /** Bytes this run received. */
  received: number
}

/** fsync the partial file this often, so a reboot loses little. */
const SYNC_EVERY = 8 * 1024 * 1024

export function downloadDir(files: UpdateFiles, sha256: string): string {
  return join(files.downloads, sha256)
}

export async function downloadPackage(options: {
  files: UpdateFiles
  http: UpdatesHttp
  target: SignedDownload
  signal?: AbortSignal
  onProgress?: (done: number, total: number) => void
}): Promise<DownloadResult> {
  const {target, http} = options
  const dir = downloadDir(options.files, target.sha256)
  const name = basename(target.targetPath) || 'package'
  const done = join(dir, name)
  const partial = `${done}.part`
  await mkdir(dir, {recursive: true, mode: 0o700})
  await writeFileAtomic(join(dir, 'state.json'), `${JSON.stringify({targetPath: target.targetPath, length: target.length, sha256: target.sha256})}\n`, 0o600)
  if ((await sizeOf(done)) === target.length) return {path: done, resumedFrom: target.length, received: 0}

  let offset = (await sizeOf(partial)) ?? 0
  if (offset > target.length) offset = 0
  const resumedFrom = offset
  let received = 0
  if (offset < target.length) {
    const path = `${AGENT_UPDATES_TARGETS_PATH}/${target.targetPath.split('/').map(encodeURIComponent).join('/')}`
    let res
    try {
      res = await http.get(path, {rangeFrom: offset, signal: options.signal})
    } catch (error) {
      throw new UpdatesNetworkError(`package download failed: ${(error as Error).message}`)
    }
    if (res.status === 200) offset = 0 // the server ignored the Range: take the whole file from the start
    else if (res.status === 206) {
      const start = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))
      if (!start || Number(start[1]) !== offset) {
        discard(res.body)
        throw new UpdatesNetworkError(`the server answered Range bytes=${offset}- with Content-Range "${String(res.headers['content-range'] ?? '')}"`)
      }
    } else {
      discard(res.body)
      if (res.status === 416) await rm(partial, {force: true}) // our partial no longer fits the server's file: start over next time
      throw new UpdatesNetworkError(`package download: the server answered HTTP ${res.status}`)
    }
    const handle = await open(partial, offset === 0 ? 'w' : 'r+', 0o600)
    let sinceSync = 0
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const room = target.length - offset
        if (chunk.length > room) {
          if (room > 0) await handle.write(chunk, 0, room, offset)
          offset += Math.max(0, room)
          received += Math.max(0, room)
          discard(res.body)
          throw new TufCheckError('length', `the server sent more than the signed length of ${target.length} bytes; download cut off`)
        }
        await handle.write(chunk, 0, chunk.length, offset)
        offset += chunk.length
        received += chunk.length
        sinceSync += chunk.length
        if (sinceSync >= SYNC_EVERY) {
          await handle.sync()
          sinceSync = 0
        }
        options.onProgress?.(offset, target.length)
      }
      await handle.sync()
    } catch (error) {
      if (error instanceof TufCheckError) throw error
      throw new UpdatesNetworkError(`package download interrupted at ${offset} of ${target.length} bytes: ${(error as Error).message}`)
    } finally {
      await handle.close()
    }
    if (offset < target.length) throw new UpdatesNetworkError(`package download ended at ${offset} of ${target.length} bytes; it resumes from there`)
  }
  await rename(partial, done)
  return {path: done, resumedFrom, received}
}

/**
 * Stops reading a response body. undici's body emits an abort error when destroyed; without a
 * listener that error would be unhandled and take the whole agent down (seen with a 429 answer).
 */
function discard(body: NodeJS.ReadableStream & {destroy(): void}): void {
  body.on('error', () => {})
  body.destroy()
}

/** Drops a download (after a hash mismatch, or once installed). */
export async function discardDownload(files: UpdateFiles, sha256: string): Promise<void> {
  await rm(downloadDir(files, sha256), {recursive: true, force: true})
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
