import {mkdir, rm} from 'node:fs/promises'
import {AgentUpdatesConfig} from '../../protocol/updates/index.js'
import {writeFileAtomic} from '../../shared/atomic-file.js'
import {UsageError} from '../../shared/errors.js'
import {parseMetadata} from '../../shared/tuf/index.js'
import type {AgentConfig, AgentFiles} from '../data-dir.js'
import {updateFiles} from './paths.js'

/**
 * What `tether agent enroll --allow-updates --update-root FILE` adds to an enrolment: the
 * customer's opt-in (both switches an update job needs), and the root.json the image was built
 * with as the device's TUF trust anchor, so that the first update does not trust the server's
 * word for the publisher's keys.
 */
export function withUpdatesAllowed(settings: Partial<AgentConfig>): Partial<AgentConfig> {
  const kinds = settings.acceptedJobKinds ?? ['diagnostics', 'logs']
  return {
    ...settings,
    acceptedJobKinds: kinds.includes('updates') ? kinds : [...kinds, 'updates'],
    updates: AgentUpdatesConfig.parse({...settings.updates, allowed: true}),
  }
}

/** A TUF root that is well formed and signed by its own root threshold; anything else is a usage error naming the flag. */
export function checkUpdateRoot(root: {path: string; bytes: Buffer}): void {
  try {
    const md = parseMetadata('root', JSON.parse(root.bytes.toString('utf8')), root.path)
    md.verifyDelegate('root', md)
  } catch (error) {
    throw new UsageError(`--update-root: ${root.path} is not a self-signed TUF root.json (${(error as Error).message})`, {
      suggestions: ['Pass the root.json of your update repository (`tether updates repo init` wrote it to REPO/metadata/root.json, or a later N.root.json).'],
    })
  }
}

/** Stores the anchor; TUF metadata trusted under an older anchor is dropped, so the walk starts again from this one. */
export async function installUpdateRoot(files: AgentFiles, bytes: Buffer): Promise<void> {
  const u = updateFiles(files.updates)
  await rm(u.metadata, {recursive: true, force: true})
  await mkdir(u.dir, {recursive: true, mode: 0o700})
  await writeFileAtomic(u.trustedRoot, bytes, 0o644)
}
