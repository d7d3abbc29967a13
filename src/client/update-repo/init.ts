import {mkdir, readdir} from 'node:fs/promises'
import {join} from 'node:path'
import {Metadata, Targets} from '@tufjs/models'
import {UsageError} from '../../shared/errors.js'
import {generateSigningKey, makeKeyDir, signMetadata, SPEC_VERSION, tufExpires, verifyThreshold, writeKeyFile, writeMetadataFile, type SigningKey} from '../../shared/tuf/index.js'
import {repoPaths} from './layout.js'
import {readOnlineKeysFile} from './online-keys-file.js'
import {buildRoot} from './root-builder.js'

export interface InitRepoOptions {
  dir: string
  /** Signatures needed for root and for targets. */
  threshold: number
  /** Keys generated for root and (as many again) for targets. */
  keys: number
  rootExpiresMs: number
  targetsExpiresMs: number
  /** The server's public online keys (`tether server updates-keys`); absent: generate test keys into keys/online/. */
  onlineKeysFile?: string
  now?: Date
}

export interface InitRepoResult {
  dir: string
  rootVersion: number
  threshold: number
  rootKeyIds: string[]
  targetsKeyIds: string[]
  onlineKeys: {source: 'file' | 'generated'; snapshot: string[]; timestamp: string[]}
  keyFiles: string[]
  metadataFiles: string[]
  rootExpires: string
  targetsExpires: string
}

export const MAX_KEYS = 16

/** Creates a release repository: offline root and targets keys, root version 1 and an empty targets.json. */
export async function initRepo(options: InitRepoOptions): Promise<InitRepoResult> {
  checkThreshold(options.threshold, options.keys)
  const paths = repoPaths(options.dir)
  for (const dir of [paths.keys, paths.metadata]) {
    if ((await readdir(dir).catch(() => [])).length > 0) {
      throw new UsageError(`--dir ${options.dir}: already holds a repository (${dir} is not empty)`, {
        suggestions: ['use `tether updates repo rotate-root` to change keys, or choose a new --dir'],
      })
    }
  }
  const online = options.onlineKeysFile ? await readOnlineKeysFile(options.onlineKeysFile) : undefined
  const now = options.now ?? new Date()

  await mkdir(options.dir, {recursive: true})
  await makeKeyDir(paths.keys)
  await mkdir(paths.metadata, {recursive: true})
  await mkdir(paths.targets, {recursive: true})

  const keyFiles: string[] = []
  const generate = async (dir: string, name: string): Promise<SigningKey> => {
    const key = generateSigningKey()
    const file = join(dir, `${name}.key`)
    await writeKeyFile(file, key)
    keyFiles.push(file)
    return key
  }
  const rootKeys: SigningKey[] = []
  const targetsKeys: SigningKey[] = []
  for (let i = 1; i <= options.keys; i++) rootKeys.push(await generate(paths.keys, `root-${i}`))
  for (let i = 1; i <= options.keys; i++) targetsKeys.push(await generate(paths.keys, `targets-${i}`))
  let snapshotKeys = online?.snapshot
  let timestampKeys = online?.timestamp
  if (!snapshotKeys || !timestampKeys) {
    // Test keys only: a real server signs with keys it generated itself (see docs/updates.md).
    await makeKeyDir(paths.onlineKeys)
    snapshotKeys = [(await generate(paths.onlineKeys, 'snapshot')).publicKey]
    timestampKeys = [(await generate(paths.onlineKeys, 'timestamp')).publicKey]
  }

  const rootExpires = new Date(now.getTime() + options.rootExpiresMs)
  const root = buildRoot({
    version: 1,
    expires: rootExpires,
    root: {keys: rootKeys.map((k) => k.publicKey), threshold: options.threshold},
    targets: {keys: targetsKeys.map((k) => k.publicKey), threshold: options.threshold},
    snapshot: {keys: snapshotKeys, threshold: 1},
    timestamp: {keys: timestampKeys, threshold: 1},
  })
  signMetadata(root, rootKeys)
  verifyThreshold(root, 'root', root)

  const targetsExpires = new Date(now.getTime() + options.targetsExpiresMs)
  const targets = new Metadata(new Targets({version: 1, specVersion: SPEC_VERSION, expires: tufExpires(targetsExpires), targets: {}}))
  signMetadata(targets, targetsKeys)
  verifyThreshold(root, 'targets', targets)

  await writeMetadataFile(paths.versionedRoot(1), root)
  await writeMetadataFile(paths.root, root)
  await writeMetadataFile(paths.targetsJson, targets)
  return {
    dir: options.dir,
    rootVersion: 1,
    threshold: options.threshold,
    rootKeyIds: rootKeys.map((k) => k.keyId),
    targetsKeyIds: targetsKeys.map((k) => k.keyId),
    onlineKeys: {source: online ? 'file' : 'generated', snapshot: snapshotKeys.map((k) => k.keyID), timestamp: timestampKeys.map((k) => k.keyID)},
    keyFiles,
    metadataFiles: [paths.versionedRoot(1), paths.root, paths.targetsJson],
    rootExpires: root.signed.expires,
    targetsExpires: targets.signed.expires,
  }
}

export function checkThreshold(threshold: number, keys: number, keysFlag = '--keys'): void {
  if (!Number.isInteger(keys) || keys < 1 || keys > MAX_KEYS) throw new UsageError(`${keysFlag} ${keys}: must be between 1 and ${MAX_KEYS}`)
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > keys) {
    throw new UsageError(`--threshold ${threshold}: must be between 1 and the number of keys (${keys})`)
  }
}
