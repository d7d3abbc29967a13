import {createHash} from 'node:crypto'
import {Metadata, MetaFile, Snapshot, Timestamp} from '@tufjs/models'
import type {SigningKey} from './keys.js'
import {signMetadata} from './sign.js'

/** TUF's spec version this code writes (tuf-js 5 accepts 1.x). */
export const SPEC_VERSION = '1.0.31'

export interface OnlineSignOptions {
  /** This document's own version: one more than the last one the server signed. */
  version: number
  expires: Date
  /** The server's online keys for this role (root names them). */
  keys: readonly SigningKey[]
}

/** TUF's ISO 8601 without milliseconds (`2026-12-06T20:55:34Z`), what every implementation writes. */
export function tufExpires(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * snapshot.json, signed with the online snapshot keys: pins the version of targets.json (and, given
 * its exact served bytes, their length and sha256), which is what stops mix-and-match.
 */
export function signSnapshot(options: OnlineSignOptions & {targetsVersion: number; targetsBytes?: Uint8Array}): Metadata<Snapshot> {
  const snapshot = new Snapshot({
    version: options.version,
    specVersion: SPEC_VERSION,
    expires: tufExpires(options.expires),
    meta: {'targets.json': metaFile(options.targetsVersion, options.targetsBytes)},
  })
  const md = new Metadata(snapshot)
  signMetadata(md, options.keys)
  return md
}

/**
 * timestamp.json, signed with the online timestamp keys: short-lived, re-signed by the server to
 * keep it fresh; it pins snapshot.json (version, and length and sha256 of its served bytes).
 */
export function signTimestamp(options: OnlineSignOptions & {snapshotVersion: number; snapshotBytes?: Uint8Array}): Metadata<Timestamp> {
  const timestamp = new Timestamp({
    version: options.version,
    specVersion: SPEC_VERSION,
    expires: tufExpires(options.expires),
    snapshotMeta: metaFile(options.snapshotVersion, options.snapshotBytes),
  })
  const md = new Metadata(timestamp)
  signMetadata(md, options.keys)
  return md
}

function metaFile(version: number, bytes: Uint8Array | undefined): MetaFile {
  if (!bytes) return new MetaFile({version})
  return new MetaFile({version, length: bytes.length, hashes: {sha256: createHash('sha256').update(bytes).digest('hex')}})
}
