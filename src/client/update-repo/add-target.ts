import {join} from 'node:path'
import {Metadata, TargetFile, Targets} from '@tufjs/models'
import semver from 'semver'
import {DeviceModel, SemVer, TargetCustom, targetPath} from '../../protocol/updates/index.js'
import {UsageError} from '../../shared/errors.js'
import {keysForRole, readMetadataFile, signMetadata, tufExpires, verifyThreshold, writeMetadataFile} from '../../shared/tuf/index.js'
import {loadOfflineKeys, repoPaths} from './layout.js'
import {checkPackageFile, copyPackage} from './package-file.js'

export interface AddTargetOptions {
  dir: string
  packagePath: string
  version: string
  models: string[]
  minVersion?: string
  downgrade?: boolean
  hooks?: {install?: string; healthCheck?: string; rollback?: string}
  expiresMs: number
  now?: Date
}

export interface AddTargetResult {
  path: string
  file: string
  length: number
  hashes: {sha256: string; sha512: string}
  custom: TargetCustom
  targetsVersion: number
  targetsExpires: string
  signedBy: string[]
}

/**
 * Adds a package to targets.json and signs the new version with the targets keys. Everything is
 * checked before anything is written; the version rule is the agent's (a version must be newer than
 * every one already signed for the same model, unless the publisher signs it as a downgrade).
 */
export async function addTarget(options: AddTargetOptions): Promise<AddTargetResult> {
  const custom = customFromFlags(options)
  const fileName = await checkPackageFile(options.packagePath)
  const paths = repoPaths(options.dir)
  const root = await readMetadataFile('root', paths.root)
  const current = await readMetadataFile('targets', paths.targetsJson)
  const path = targetPath(custom.version, fileName)
  if (current.signed.targets[path]) throw new UsageError(`--version ${custom.version}: ${path} is already in targets.json; give the package a new version`)
  if (!options.downgrade) refuseNotNewer(current.signed, custom)
  const signers = keysForRole(root.signed, 'targets', await loadOfflineKeys(paths))

  const digest = await copyPackage(options.packagePath, join(paths.targets, ...path.split('/')))
  const target = new TargetFile({length: digest.length, path, hashes: digest.hashes, unrecognizedFields: {custom: {tether: custom}}})
  const expires = new Date((options.now ?? new Date()).getTime() + options.expiresMs)
  const targets = new Metadata(
    new Targets({
      version: current.signed.version + 1,
      specVersion: current.signed.specVersion,
      expires: tufExpires(expires),
      targets: {...current.signed.targets, [path]: target},
      delegations: current.signed.delegations,
      unrecognizedFields: current.signed.unrecognizedFields,
    }),
  )
  signMetadata(targets, signers)
  verifyThreshold(root, 'targets', targets)
  await writeMetadataFile(paths.targetsJson, targets)
  return {
    path,
    file: join(paths.targets, path),
    length: digest.length,
    hashes: digest.hashes,
    custom,
    targetsVersion: targets.signed.version,
    targetsExpires: targets.signed.expires,
    signedBy: signers.map((k) => k.keyId),
  }
}

function customFromFlags(options: AddTargetOptions): TargetCustom {
  if (!SemVer.safeParse(options.version).success) throw new UsageError(`--version ${options.version}: not a semantic version such as 2.4.1`)
  if (options.minVersion !== undefined && !SemVer.safeParse(options.minVersion).success) {
    throw new UsageError(`--min-version ${options.minVersion}: not a semantic version such as 2.0.0`)
  }
  if (options.models.length === 0) throw new UsageError('--model: give at least one device model, e.g. --model "Analyzer X200"')
  for (const model of options.models) if (!DeviceModel.safeParse(model).success) throw new UsageError(`--model "${model}": 1 to 128 characters`)
  const hooks = Object.fromEntries(Object.entries(options.hooks ?? {}).filter(([, v]) => v !== undefined))
  const parsed = TargetCustom.safeParse({
    version: options.version,
    models: [...new Set(options.models)],
    ...(options.minVersion === undefined ? {} : {minVersion: options.minVersion}),
    ...(options.downgrade ? {downgrade: true} : {}),
    ...(Object.keys(hooks).length > 0 ? {hooks} : {}),
  })
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const flag = issue?.path[0] === 'hooks' ? `--${String(issue.path[1]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}-hook` : issue?.path.join('.')
    throw new UsageError(`${flag}: ${issue?.message ?? 'invalid'}`)
  }
  return parsed.data
}

/** The agent's version rule, checked here too: publishing a version devices would refuse helps nobody. */
function refuseNotNewer(targets: Targets, custom: TargetCustom): void {
  for (const existing of Object.values(targets.targets)) {
    const other = TargetCustom.safeParse((existing.custom as {tether?: unknown}).tether)
    if (!other.success) continue
    const model = custom.models.find((m) => other.data.models.includes(m))
    if (model !== undefined && semver.lte(custom.version, other.data.version)) {
      throw new UsageError(`--version ${custom.version}: not newer than ${other.data.version}, already signed for model "${model}"`, {
        suggestions: ['pass --downgrade to sign an explicit downgrade that devices may install below their version'],
      })
    }
  }
}
