import {mkdir} from 'node:fs/promises'
import {dirname} from 'node:path'
import type {Root} from '@tufjs/models'
import type {OnlinePublicKeys} from '../../protocol/updates/index.js'
import {TetherError, UsageError} from '../../shared/errors.js'
import {readTextIfExists} from '../../shared/optional-file.js'
import {generateSigningKey, publicKeyEntry, type SigningKey, signingKeyFromPem, signingKeyPem, TufMetadataError} from '../../shared/tuf/index.js'
import {writeFileAtomic} from '../../shared/atomic-file.js'

/** The server's online TUF keys: they sign snapshot.json and timestamp.json, nothing else. */
export interface OnlineKeys {
  snapshot: SigningKey
  timestamp: SigningKey
}

export interface OnlineKeyFiles {
  snapshotKeyFile: string
  timestampKeyFile: string
}

export interface LoadedOnlineKeys {
  keys: OnlineKeys
  /** Files made now (a data dir from before updates); the caller audits it. */
  created: string[]
}

/**
 * Loads the snapshot and timestamp keys from the data dir, creating a missing one (0600, like the
 * MFA and checkpoint keys) only while no root is published: once a root names the keys, a fresh
 * key would sign metadata no device accepts, so that is a refusal naming the file to copy.
 */
export async function loadOnlineKeys(files: OnlineKeyFiles, rootPublished: boolean): Promise<LoadedOnlineKeys> {
  const created: string[] = []
  const load = async (role: 'snapshot' | 'timestamp', file: string): Promise<SigningKey> => {
    const pem = await readTextIfExists(file)
    if (pem === null) {
      if (rootPublished) {
        throw new TetherError(`${file} is missing, but a published root names this server's ${role} key: copy the file from the node (or the data dir backup) that has it`, {code: 'KEY_UNAVAILABLE'})
      }
      const key = generateSigningKey()
      await mkdir(dirname(file), {recursive: true, mode: 0o700})
      await writeFileAtomic(file, signingKeyPem(key), 0o600)
      created.push(file)
      return key
    }
    try {
      return signingKeyFromPem(pem)
    } catch (error) {
      throw new TetherError(`${file}: not an Ed25519 private key in PKCS#8 PEM; restore it from the data dir backup`, {code: 'KEY_UNAVAILABLE', cause: error})
    }
  }
  return {keys: {snapshot: await load('snapshot', files.snapshotKeyFile), timestamp: await load('timestamp', files.timestampKeyFile)}, created}
}

/** Reads both keys without creating any (`tether server updates-keys`); a missing file is a usage error naming the way out. */
export async function readOnlineKeys(files: OnlineKeyFiles): Promise<OnlineKeys> {
  const read = async (file: string): Promise<SigningKey> => {
    const pem = await readTextIfExists(file)
    if (pem === null) throw new UsageError(`${file} does not exist: \`tether server init\` creates it, and \`tether server start\` creates it for a data dir from before updates`)
    try {
      return signingKeyFromPem(pem)
    } catch (error) {
      throw new UsageError(`${file}: not an Ed25519 private key in PKCS#8 PEM`, {cause: error})
    }
  }
  return {snapshot: await read(files.snapshotKeyFile), timestamp: await read(files.timestampKeyFile)}
}

/** The public halves, as `tether server updates-keys` prints them for `updates repo init --online-keys`. */
export function onlinePublicKeys(keys: OnlineKeys): OnlinePublicKeys {
  return {snapshot: [publicKeyEntry(keys.snapshot)], timestamp: [publicKeyEntry(keys.timestamp)]}
}

/**
 * Refuses a root that does not let this server's keys sign snapshot and timestamp alone: the
 * server could never produce metadata the devices accept (a threshold above 1, or other keys).
 */
export function assertRootNamesOnlineKeys(root: Root, keys: OnlineKeys, what: string): void {
  for (const role of ['snapshot', 'timestamp'] as const) {
    const spec = root.roles[role]
    if (!spec?.keyIDs.includes(keys[role].keyId) || spec.threshold !== 1) {
      throw new TufMetadataError(what, 'threshold', `its ${role} role must list this server's ${role} key ${keys[role].keyId.slice(0, 16)}… with threshold 1 (run \`tether server updates-keys\` and pass its output to \`tether updates repo init|rotate-root --online-keys\`)`)
    }
  }
}
