import {createReadStream} from 'node:fs'
import type {Metadata, Root, Targets, TargetFile} from '@tufjs/models'
import {TargetCustom} from '../../protocol/updates/index.js'
import {TufMetadataError} from './errors.js'
import {parseMetadata} from './metadata-files.js'
import {verifyNotExpired, verifyThreshold} from './verify.js'

export interface PublishedRepoInput {
  /** The root the checker already trusts (the server's current root), parsed or as JSON. */
  trustedRoot: Metadata<Root> | unknown
  /** Newer roots in order: trusted version + 1, + 2, ... (each a `<N>.root.json` as JSON). */
  newRoots?: readonly unknown[]
  /** targets.json as JSON. */
  targets: unknown
  /** The version of the targets.json already accepted: the new one must be higher (no rollback, no replay). */
  currentTargetsVersion?: number
  /**
   * The key ids of the checker's own online keys: the newest root must let them reach the snapshot
   * and timestamp thresholds, or the server could not sign anything devices accept.
   */
  onlineKeyIds?: {snapshot: readonly string[]; timestamp: readonly string[]}
  now?: Date
}

export interface VerifiedTarget {
  path: string
  length: number
  hashes: Record<string, string>
  custom: TargetCustom
}

export interface VerifiedRepo {
  /** The newest root: the last of `newRoots`, or the trusted root when there were none. */
  root: Metadata<Root>
  /** The accepted new roots, in version order (the server serves each as `<N>.root.json`). */
  newRoots: Metadata<Root>[]
  targets: Metadata<Targets>
  targetList: VerifiedTarget[]
}

/** A target's path: `<version>/<file>` with a plain file name (no traversal, nothing to escape in a URL). */
const TARGET_PATH = /^[0-9A-Za-z.+-]+\/[0-9A-Za-z][0-9A-Za-z._+-]{0,199}$/

/**
 * What the server runs before it accepts a publish: everything a device will check later, so a
 * repository the devices would refuse never goes live. Walks root rotation as the TUF client does
 * (each new root is the next version and signed by a threshold of the previous root's root keys
 * and of its own), then checks targets.json against the newest root's targets keys, its expiry and
 * version, and every target's signed custom metadata. Throws `TufMetadataError` naming the
 * document and the rule at fault.
 */
export function verifyPublishedRepo(input: PublishedRepoInput): VerifiedRepo {
  const now = input.now ?? new Date()
  let root = isMetadata<Root>(input.trustedRoot) ? input.trustedRoot : parseMetadata('root', input.trustedRoot, 'trusted root.json')
  verifyThreshold(root, 'root', root, `${root.signed.version}.root.json`)

  const newRoots: Metadata<Root>[] = []
  for (const [i, json] of (input.newRoots ?? []).entries()) {
    const expected = root.signed.version + 1
    const next = parseMetadata('root', json, `new root #${i + 1}`)
    const name = `${next.signed.version}.root.json`
    if (next.signed.version !== expected) {
      throw new TufMetadataError(name, 'root-version', `expected root version ${expected} after ${root.signed.version}, got ${next.signed.version}`)
    }
    verifyThreshold(root, 'root', next, `${name} (by the keys of root ${root.signed.version})`)
    verifyThreshold(next, 'root', next, `${name} (by its own keys)`)
    newRoots.push(next)
    root = next
  }
  verifyNotExpired(root, `${root.signed.version}.root.json`, now)
  if (input.onlineKeyIds) verifyOnlineKeys(root, input.onlineKeyIds)

  const targets = parseMetadata('targets', input.targets, 'targets.json')
  verifyThreshold(root, 'targets', targets, 'targets.json')
  verifyNotExpired(targets, 'targets.json', now)
  if (input.currentTargetsVersion !== undefined && targets.signed.version <= input.currentTargetsVersion) {
    throw new TufMetadataError('targets.json', 'targets-version', `version ${targets.signed.version} is not newer than the accepted version ${input.currentTargetsVersion}`)
  }
  return {root, newRoots, targets, targetList: Object.values(targets.signed.targets).map(verifiedTarget)}
}

function verifyOnlineKeys(root: Metadata<Root>, ids: NonNullable<PublishedRepoInput['onlineKeyIds']>): void {
  for (const role of ['snapshot', 'timestamp'] as const) {
    const spec = root.signed.roles[role]
    const named = ids[role].filter((id) => spec.keyIDs.includes(id)).length
    if (named < spec.threshold) {
      throw new TufMetadataError(`${root.signed.version}.root.json`, 'online-keys', `names ${named} of the server's ${role} keys, ${spec.threshold} needed; sign a root with \`tether updates repo rotate-root --online-keys FILE\``)
    }
  }
}

function verifiedTarget(target: TargetFile): VerifiedTarget {
  const what = `targets[${target.path}]`
  if (!TARGET_PATH.test(target.path) || target.path.split('/').some((part) => part === '.' || part === '..')) {
    throw new TufMetadataError(what, 'malformed', 'the path must be <version>/<file name> with letters, digits, . _ + - only')
  }
  if (!target.hashes.sha256) throw new TufMetadataError(what, 'malformed', 'no sha256 hash')
  const tether = (target.custom as {tether?: unknown}).tether
  const parsed = TargetCustom.safeParse(tether)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = issue ? ['custom', 'tether', ...issue.path].join('.') : 'custom.tether'
    throw new TufMetadataError(what, 'target-custom', tether === undefined ? 'no custom.tether metadata' : `${field}: ${issue?.message ?? 'invalid'}`)
  }
  if (!target.path.startsWith(`${parsed.data.version}/`)) {
    throw new TufMetadataError(what, 'target-custom', `the path is not under the signed version ${parsed.data.version}/`)
  }
  return {path: target.path, length: target.length, hashes: {...target.hashes}, custom: parsed.data}
}

/** Checks a package file against its signed entry (length and every hash): the server runs it on upload. */
export async function verifyTargetFile(target: TargetFile, filePath: string): Promise<void> {
  try {
    await target.verify(createReadStream(filePath))
  } catch (error) {
    throw new TufMetadataError(`targets[${target.path}]`, 'target-file', `the uploaded file does not match its signed length and hashes (${(error as Error).message})`, {cause: error})
  }
}

function isMetadata<T extends Root>(value: unknown): value is Metadata<T> {
  return typeof value === 'object' && value !== null && 'signed' in value && typeof (value as {toJSON?: unknown}).toJSON === 'function' && 'verifyDelegate' in value
}
