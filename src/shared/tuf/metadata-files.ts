import {readFile} from 'node:fs/promises'
import {Metadata, MetadataKind, type Root, type Snapshot, type Targets, type Timestamp} from '@tufjs/models'
import {writeFileAtomic} from '../atomic-file.js'
import {UsageError} from '../errors.js'
import {TufMetadataError} from './errors.js'

/** The signed body of each top-level role. */
export interface RoleTypes {
  root: Root
  targets: Targets
  snapshot: Snapshot
  timestamp: Timestamp
}
export type RoleName = keyof RoleTypes

const KINDS: Record<RoleName, MetadataKind> = {
  root: MetadataKind.Root,
  targets: MetadataKind.Targets,
  snapshot: MetadataKind.Snapshot,
  timestamp: MetadataKind.Timestamp,
}

/**
 * Parses TUF metadata JSON of one role. `what` names the document in the error (e.g. `2.root.json`);
 * @tufjs/models checks the shape and `_type`, this turns its errors into one typed refusal.
 */
export function parseMetadata<R extends RoleName>(role: R, json: unknown, what: string = role): Metadata<RoleTypes[R]> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TufMetadataError(what, 'malformed', 'not a JSON object')
  try {
    return Metadata.fromJSON(KINDS[role] as MetadataKind.Root, json as never) as unknown as Metadata<RoleTypes[R]>
  } catch (error) {
    throw new TufMetadataError(what, 'malformed', `not valid ${role} metadata (${(error as Error).message})`, {cause: error})
  }
}

/**
 * The exact bytes of a metadata file. Snapshot and timestamp hash these bytes, so the server must
 * serve what this returns (or what it received), never a re-serialisation of its own.
 */
export function serializeMetadata(md: Metadata<RoleTypes[RoleName]>): Buffer {
  return Buffer.from(`${JSON.stringify(md.toJSON(), null, 2)}\n`)
}

export async function readMetadataFile<R extends RoleName>(role: R, path: string): Promise<Metadata<RoleTypes[R]>> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`${path}: ${error.code === 'ENOENT' ? 'not found (is --dir a repository made by `tether updates repo init`?)' : error.message}`, {cause: error})
  })
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new TufMetadataError(path, 'malformed', 'not JSON', {cause: error})
  }
  return parseMetadata(role, json, path)
}

export async function writeMetadataFile(path: string, md: Metadata<RoleTypes[RoleName]>): Promise<void> {
  await writeFileAtomic(path, serializeMetadata(md), 0o644)
}
