import type {Metadata, Root} from '@tufjs/models'
import {TetherError} from '../errors.js'
import {type SigningKey, signerFor} from './keys.js'
import type {RoleName, RoleTypes} from './metadata-files.js'

/** Adds one signature per key (replacing an older signature by the same key). */
export function signMetadata(md: Metadata<RoleTypes[RoleName]>, keys: readonly SigningKey[]): void {
  for (const key of keys) md.sign(signerFor(key), true)
}

/**
 * The keys among `available` that `root` names for `role`, refusing when they cannot reach its
 * threshold: better to stop on the release machine than to publish metadata no device accepts.
 */
export function keysForRole(root: Root, role: RoleName, available: readonly SigningKey[]): SigningKey[] {
  const spec = root.roles[role]
  if (!spec) throw new TetherError(`root.json has no ${role} role`, {code: 'KEY_UNAVAILABLE'})
  const chosen = dedupe(available.filter((k) => spec.keyIDs.includes(k.keyId)))
  if (chosen.length < spec.threshold) {
    throw new TetherError(`only ${chosen.length} of the ${spec.threshold} ${role} keys needed are available`, {
      code: 'KEY_UNAVAILABLE',
      suggestions: [`put at least ${spec.threshold} of the ${role} key files root version ${root.version} names into the repository's keys/ directory`],
    })
  }
  return chosen
}

function dedupe(keys: SigningKey[]): SigningKey[] {
  return [...new Map(keys.map((k) => [k.keyId, k])).values()]
}
