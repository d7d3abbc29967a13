import {createReadStream} from 'node:fs'
import semver from 'semver'
import type {TargetFile} from 'tuf-js'
import {TargetCustom, UpdateErrorCodes, type UpdateJobParams} from '../../protocol/updates/index.js'

/**
 * What the device checks beyond TUF's own walk: the target's signed custom fields (parsed with
 * the protocol's TargetCustom), the model, the version rule (never the same or older unless the
 * publisher signed a downgrade; a minimum installed version), and the package's hashes and length.
 * Each failure is an `UpdateRefusal` naming its code and, for VERIFY_FAILED, which check.
 */
export class UpdateRefusal extends Error {
  constructor(
    readonly code: (typeof UpdateErrorCodes)[keyof typeof UpdateErrorCodes],
    message: string,
    /** VERIFY_FAILED: which check (signature, expired, hash, length, not-signed, custom, ...). */
    readonly check?: string,
  ) {
    super(message)
  }
}

export const verifyFailed = (check: string, message: string) => new UpdateRefusal(UpdateErrorCodes.verifyFailed, `verification failed (${check}): ${message}`, check)

/** The target's signed sha256 (the download is named by it); refuses a target without one. */
export function signedSha256(target: TargetFile): string {
  const sha = target.hashes.sha256
  if (!sha || !/^[0-9a-f]{64}$/.test(sha)) throw verifyFailed('hash', `${target.path} is signed without a sha256`)
  return sha
}

/** Checks the signed custom metadata against this device before anything is downloaded. */
export function checkTargetPolicy(target: TargetFile, params: UpdateJobParams, device: {model: string | undefined; installedVersion: string | null}): TargetCustom {
  const parsed = TargetCustom.safeParse((target.custom as Record<string, unknown> | undefined)?.tether)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw verifyFailed('custom', `${target.path}: custom.tether${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'missing'}`)
  }
  const custom = parsed.data
  // The job's version is the server's word; the signed one decides. A mismatch means the server is confused or lying.
  if (custom.version !== params.version) throw verifyFailed('version-mismatch', `the job names version ${params.version}, the signed target is ${custom.version}`)
  if (!device.model || !custom.models.includes(device.model)) {
    throw new UpdateRefusal(UpdateErrorCodes.wrongModel, `${custom.version} is signed for ${custom.models.map((m) => `"${m}"`).join(', ')}; this device is ${device.model ? `"${device.model}"` : 'of no known model (agent.json model)'}`)
  }
  const installed = device.installedVersion
  if (custom.minVersion && (installed === null || semver.lt(installed, custom.minVersion))) {
    throw new UpdateRefusal(UpdateErrorCodes.belowMinVersion, `${custom.version} needs at least ${custom.minVersion} installed; this device runs ${installed ?? 'an unknown version'}`)
  }
  if (installed !== null && semver.lte(custom.version, installed) && !custom.downgrade) {
    throw new UpdateRefusal(UpdateErrorCodes.notNewer, `${custom.version} is not newer than the installed ${installed} (and is not signed as a downgrade)`)
  }
  return custom
}

/** The downloaded file against the signed length and hashes. */
export async function verifyPackage(target: TargetFile, path: string): Promise<void> {
  try {
    await target.verify(createReadStream(path))
  } catch (error) {
    throw verifyFailed(/length/i.test((error as Error).message) ? 'length' : 'hash', (error as Error).message)
  }
}
