import {Metadata, TargetFile, Targets, type Root} from '@tufjs/models'
import {buildRoot} from '../../../src/client/update-repo/root-builder.js'
import {generateSigningKey, signMetadata, SPEC_VERSION, tufExpires, type SigningKey} from '../../../src/shared/tuf/index.js'

/** Keys for one repository: 3 root and 3 targets keys (threshold 2), one snapshot and one timestamp key. */
export interface FixtureKeys {
  root: SigningKey[]
  targets: SigningKey[]
  snapshot: SigningKey[]
  timestamp: SigningKey[]
}

export const DAY = 86_400_000

export function fixtureKeys(): FixtureKeys {
  const n = (count: number): SigningKey[] => Array.from({length: count}, () => generateSigningKey())
  return {root: n(3), targets: n(3), snapshot: n(1), timestamp: n(1)}
}

/** An unsigned root naming `keys` (root/targets threshold 2). */
export function unsignedRoot(keys: FixtureKeys, version = 1, expires = new Date(Date.now() + 365 * DAY)): Metadata<Root> {
  return buildRoot({
    version,
    expires,
    root: {keys: keys.root.map((k) => k.publicKey), threshold: 2},
    targets: {keys: keys.targets.map((k) => k.publicKey), threshold: 2},
    snapshot: {keys: keys.snapshot.map((k) => k.publicKey), threshold: 1},
    timestamp: {keys: keys.timestamp.map((k) => k.publicKey), threshold: 1},
  })
}

export function signedRoot(keys: FixtureKeys, signers: SigningKey[] = keys.root.slice(0, 2), version = 1): Metadata<Root> {
  const root = unsignedRoot(keys, version)
  signMetadata(root, signers)
  return root
}

export const GOOD_CUSTOM = {tether: {version: '2.4.1', models: ['Analyzer X200']}}

/** A target entry; `custom: null` leaves custom out. */
export function targetFile(path = '2.4.1/analyzer.tgz', custom: Record<string, unknown> | null = GOOD_CUSTOM): TargetFile {
  return new TargetFile({length: 5, path, hashes: {sha256: 'a'.repeat(64)}, unrecognizedFields: custom ? {custom: custom as never} : {}})
}

export function signedTargets(signers: SigningKey[], options: {version?: number; expires?: Date; targets?: TargetFile[]} = {}): Metadata<Targets> {
  const targets = new Metadata(
    new Targets({
      version: options.version ?? 2,
      specVersion: SPEC_VERSION,
      expires: tufExpires(options.expires ?? new Date(Date.now() + 90 * DAY)),
      targets: Object.fromEntries((options.targets ?? [targetFile()]).map((t) => [t.path, t])),
    }),
  )
  signMetadata(targets, signers)
  return targets
}

/** A JSON round trip, as the server receives documents. */
export function asJson(md: {toJSON(): unknown}): unknown {
  return JSON.parse(JSON.stringify(md.toJSON()))
}
