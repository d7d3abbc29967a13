import {createHash, randomUUID} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {mkdir, rename, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {create as createTar} from 'tar'
import {JobFailure} from '../jobs/runner.js'
import {ParallelGzip} from './parallel-gzip.js'
import {expandSources, type SourceFile} from './sources.js'

/**
 * A log collection: the matching files packed into a tar, gzip'd on every core (parallel-gzip.ts),
 * streamed straight into the spool (never held in memory) while its SHA-256 and size are
 * computed. Paths in the archive are the absolute source paths without the leading slash
 * (var/log/device/x.log).
 */
export interface Bundle {
  localId: string
  file: string
  size: number
  sha256: string
  files: number
  sourceBytes: number
}

export interface CollectOptions {
  sources: string[]
  baseDir: string
  spoolDir: string
  sinceMs?: number
  maxBytes: number
  gzipLevel?: number
  signal?: AbortSignal
}

export async function collectLogs(options: CollectOptions): Promise<Bundle> {
  if (options.sources.length === 0) throw new JobFailure('NO_LOG_SOURCES', 'this device names no log sources (agent.json logSources)')
  const files = await expandSources(options.sources, {baseDir: options.baseDir, sinceMs: options.sinceMs})
  if (files.length === 0) throw new JobFailure('NO_LOG_FILES', `no files match the log sources${options.sinceMs === undefined ? '' : ' modified since the given time'} (${options.sources.join(', ')})`)
  await mkdir(options.spoolDir, {recursive: true, mode: 0o700})
  const localId = randomUUID()
  const file = join(options.spoolDir, `bundle-${localId}.tar.gz`)
  const partial = `${file}.partial`
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
    const pack = createTar({cwd: '/', portable: true, strict: true, maxReadSize: 256 * 1024}, files.map((f) => f.path.replace(/^\/+/, '')))
    await pipeline(pack, new ParallelGzip({level: options.gzipLevel ?? 1}), tap, createWriteStream(partial, {mode: 0o600}), {signal: options.signal})
    await rename(partial, file)
  } catch (error) {
    await rm(partial, {force: true})
    throw error
  }
  return {localId, file, size, sha256: hash.digest('hex'), files: files.length, sourceBytes: sumSizes(files)}
}

function sumSizes(files: SourceFile[]): number {
  return files.reduce((n, f) => n + f.size, 0)
}
