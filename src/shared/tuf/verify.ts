import type {Metadata, Root} from '@tufjs/models'
import {TufMetadataError} from './errors.js'
import type {RoleName, RoleTypes} from './metadata-files.js'

/**
 * Refuses `md` unless a threshold of the keys `trustedRoot` names for `role` signed it (TUF's
 * delegation check, via @tufjs/models: each listed key counts once, unknown signers not at all).
 * `what` names the document in the error.
 */
export function verifyThreshold(trustedRoot: Metadata<Root>, role: RoleName, md: Metadata<RoleTypes[RoleName]>, what: string = role): void {
  try {
    trustedRoot.verifyDelegate(role, md)
  } catch (error) {
    throw new TufMetadataError(what, 'threshold', `not signed by enough ${role} keys of root version ${trustedRoot.signed.version} (${(error as Error).message})`, {cause: error})
  }
}

export function verifyNotExpired(md: Metadata<RoleTypes[RoleName]>, what: string, now: Date): void {
  if (md.signed.isExpired(now)) throw new TufMetadataError(what, 'expired', `expired at ${md.signed.expires}`)
}
