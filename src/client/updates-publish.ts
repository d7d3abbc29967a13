import {readdir, readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import type {BeginPublishRequest, PublishPlan, PublishResult} from '../protocol/api/updates.js'
import {UsageError} from '../shared/errors.js'
import type {UpdatesApi} from './updates-api.js'

export interface PublishOutcome extends PublishResult {
  firstPublish: boolean
  /** Packages sent now / already on the server. */
  uploaded: string[]
  skipped: string[]
  uploadedBytes: number
}

export interface PublishProgress {
  (event: {path: string; index: number; total: number; bytes: number}): void
}

/**
 * Reads a release repository as `tether updates repo init|add` lays it out: every
 * metadata/<N>.root.json in version order and metadata/targets.json. The keys/ directory is never read.
 */
export async function readRepoMetadata(dir: string): Promise<BeginPublishRequest> {
  const metadata = join(dir, 'metadata')
  const names = await readdir(metadata).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--dir ${dir}: ${error.code === 'ENOENT' ? 'no metadata/ directory (is it a repository made by `tether updates repo init`?)' : error.message}`)
  })
  const versions = names.flatMap((n) => /^(\d+)\.root\.json$/.exec(n)?.[1] ?? []).map(Number).sort((a, b) => a - b)
  if (versions.length === 0) throw new UsageError(`--dir ${dir}: metadata/ has no <N>.root.json`)
  const roots = await Promise.all(versions.map((v) => readJson(join(metadata, `${v}.root.json`))))
  return {roots, targets: await readJson(join(metadata, 'targets.json'))}
}

/**
 * `tether updates publish`: sends the metadata (the server verifies it before anything else),
 * then only the packages the server does not hold yet, one streamed file at a time, then commits.
 */
export async function publishRepo(api: UpdatesApi, dir: string, progress?: PublishProgress): Promise<PublishOutcome> {
  const plan: PublishPlan = await api.beginPublish(await readRepoMetadata(dir))
  const missing = plan.packages.filter((p) => !p.present)
  const uploaded: string[] = []
  let uploadedBytes = 0
  for (const [index, pkg] of missing.entries()) {
    const file = join(dir, 'targets', ...pkg.path.split('/'))
    const size = await stat(file).then(
      (s) => s.size,
      () => {
        throw new UsageError(`--dir ${dir}: targets/${pkg.path} is missing; targets.json signs it, so it must be published with it`)
      },
    )
    progress?.({path: pkg.path, index: index + 1, total: missing.length, bytes: size})
    const received = await api.uploadPackage(plan.publishId, pkg.path, file, size)
    uploaded.push(pkg.path)
    uploadedBytes += received.bytes
  }
  const result = await api.commitPublish(plan.publishId)
  return {...result, firstPublish: plan.firstPublish, uploaded, skipped: plan.packages.filter((p) => p.present).map((p) => p.path), uploadedBytes}
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`${path}: ${error.code === 'ENOENT' ? 'not found' : error.message}`)
  })
  try {
    return JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new UsageError(`${path}: not JSON`)
  }
}
