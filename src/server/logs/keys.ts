import {createCipheriv, createDecipheriv, createHash, randomBytes} from 'node:crypto'
import {mkdir, readFile, readdir, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {writeFileAtomic} from '../../shared/atomic-file.js'
import {TetherError, UsageError} from '../../shared/errors.js'

/**
 * Master keys for envelope encryption. The current key comes from env TETHER_LOGS_MASTER_KEY
 * (base64 of 32 bytes) or the key file (logs.masterKeyFile, 0600, created when missing).
 * Previous keys that still wrap some data key (a rotation in progress or interrupted) live next
 * to it as `<name>.<keyId>.old`; they are loaded for unwrapping only. A key's id is derived from
 * its material (first 16 hex of SHA-256), so no table maps ids to keys.
 */

export const MASTER_KEY_ENV = 'TETHER_LOGS_MASTER_KEY'

export interface MasterKey {
  id: string
  key: Buffer
}

export interface Keyring {
  current: MasterKey
  /** Every key that may unwrap: current and old ones. */
  byId: Map<string, MasterKey>
  /** 'env' keys cannot be rotated by `tether server rotate-logs-key`. */
  source: 'env' | 'file'
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16)
}

function decodeKey(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64')
  if (key.length !== 32) throw new UsageError(`${where}: a logs master key is base64 of exactly 32 bytes (got ${key.length})`)
  return key
}

/** Loads the keyring, creating the key file when there is neither env key nor file. */
export async function loadKeyring(masterKeyFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Keyring> {
  const byId = new Map<string, MasterKey>()
  for (const old of await oldKeyFiles(masterKeyFile)) {
    const key = decodeKey(await readFile(old, 'utf8'), old)
    byId.set(keyId(key), {id: keyId(key), key})
  }
  let current: MasterKey
  let source: Keyring['source']
  if (env[MASTER_KEY_ENV]) {
    const key = decodeKey(env[MASTER_KEY_ENV], MASTER_KEY_ENV)
    current = {id: keyId(key), key}
    source = 'env'
  } else {
    let key: Buffer
    try {
      key = decodeKey(await readFile(masterKeyFile, 'utf8'), masterKeyFile)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      key = randomBytes(32)
      await mkdir(dirname(masterKeyFile), {recursive: true, mode: 0o700})
      await writeFileAtomic(masterKeyFile, key.toString('base64') + '\n', 0o600)
    }
    current = {id: keyId(key), key}
    source = 'file'
  }
  byId.set(current.id, current)
  return {current, byId, source}
}

async function oldKeyFiles(masterKeyFile: string): Promise<string[]> {
  const dir = dirname(masterKeyFile)
  const prefix = `${basename(masterKeyFile)}.`
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  return names.filter((n) => n.startsWith(prefix) && n.endsWith('.old')).map((n) => join(dir, n))
}

export function oldKeyPath(masterKeyFile: string, id: string): string {
  return `${masterKeyFile}.${id}.old`
}

/** Makes a new current key file; the previous one is kept as `<file>.<id>.old` until retired. */
export async function installNewMasterKey(masterKeyFile: string, previous: MasterKey): Promise<MasterKey> {
  // The old key is saved first: a crash between the two writes leaves both keys readable.
  await writeFileAtomic(oldKeyPath(masterKeyFile, previous.id), previous.key.toString('base64') + '\n', 0o600)
  const key = randomBytes(32)
  await writeFileAtomic(masterKeyFile, key.toString('base64') + '\n', 0o600)
  return {id: keyId(key), key}
}

export async function retireOldKey(masterKeyFile: string, id: string): Promise<void> {
  await rm(oldKeyPath(masterKeyFile, id), {force: true})
}

/** Wraps a data key: base64(nonce 12 | ciphertext 32 | tag 16); AAD binds it to its bundle. */
export function wrapDataKey(master: MasterKey, dataKey: Buffer, bundleId: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', master.key, iv)
  cipher.setAAD(Buffer.from(bundleId))
  const ct = Buffer.concat([cipher.update(dataKey), cipher.final()])
  return Buffer.concat([iv, ct, cipher.getAuthTag()]).toString('base64')
}

export function unwrapDataKey(keyring: Keyring, id: string, wrapped: string, bundleId: string): Buffer {
  const master = keyring.byId.get(id)
  if (!master) throw new TetherError(`logs master key ${id} is not available (missing ${MASTER_KEY_ENV} or old key file)`, {code: 'KEY_UNAVAILABLE'})
  const raw = Buffer.from(wrapped, 'base64')
  const decipher = createDecipheriv('aes-256-gcm', master.key, raw.subarray(0, 12))
  decipher.setAAD(Buffer.from(bundleId))
  decipher.setAuthTag(raw.subarray(raw.length - 16))
  const body = decipher.update(raw.subarray(12, raw.length - 16))
  try {
    return Buffer.concat([body, decipher.final()])
  } catch {
    // GCM final() fails only on authentication: the wrapped key or its record was altered.
    throw new TetherError(`the data key of bundle ${bundleId} does not authenticate under master key ${id}`, {code: 'BUNDLE_TAMPERED'})
  }
}
