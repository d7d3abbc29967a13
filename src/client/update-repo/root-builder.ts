import {type Key, Metadata, Root} from '@tufjs/models'
import {SPEC_VERSION, tufExpires} from '../../shared/tuf/index.js'

export interface RoleKeys {
  keys: readonly Key[]
  threshold: number
}

export interface RootSpec {
  version: number
  expires: Date
  root: RoleKeys
  targets: RoleKeys
  snapshot: RoleKeys
  timestamp: RoleKeys
}

/**
 * An unsigned root.json. consistent_snapshot is false on purpose: the server serves
 * `metadata/<role>.json` and `targets/<version>/<file>` (src/protocol/updates), and its publish
 * swaps targets, snapshot and timestamp together, so version-prefixed copies are not needed.
 */
export function buildRoot(spec: RootSpec): Metadata<Root> {
  // Built as JSON and parsed: @tufjs/models does not export its Role class, and fromJSON checks the shape.
  const keys: Record<string, unknown> = {}
  const roles: Record<string, {keyids: string[]; threshold: number}> = {}
  for (const name of ['root', 'targets', 'snapshot', 'timestamp'] as const) {
    const {keys: roleKeys, threshold} = spec[name]
    for (const key of roleKeys) keys[key.keyID] = key.toJSON()
    roles[name] = {keyids: roleKeys.map((k) => k.keyID), threshold}
  }
  const signed = {_type: 'root', spec_version: SPEC_VERSION, version: spec.version, expires: tufExpires(spec.expires), keys, roles, consistent_snapshot: false}
  return new Metadata(Root.fromJSON(signed as never))
}

/** The keys a root names for one role. */
export function roleKeys(root: Root, role: string): Key[] {
  return (root.roles[role]?.keyIDs ?? []).map((id) => root.keys[id]).filter((k): k is Key => k !== undefined)
}
