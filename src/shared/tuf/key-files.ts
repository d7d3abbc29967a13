import {chmod, mkdir, readFile} from 'node:fs/promises'
import {writeFileAtomic} from '../atomic-file.js'
import {UsageError} from '../errors.js'
import {type SigningKey, signingKeyFromPem, signingKeyPem} from './keys.js'

/**
 * Private TUF keys on disk: one PKCS#8 PEM per file (openssl reads it too), mode 0600 in a 0700
 * directory, written atomically so a crash never leaves half a key. The key id is derived from
 * the key, never stored beside it, so a renamed or swapped file cannot lie about which key it is.
 */
export async function writeKeyFile(path: string, key: SigningKey): Promise<void> {
  await writeFileAtomic(path, signingKeyPem(key), 0o600)
  // The umask cannot widen 0600, but an existing file replaced by rename keeps the new mode: be explicit.
  await chmod(path, 0o600)
}

export async function makeKeyDir(path: string): Promise<void> {
  await mkdir(path, {recursive: true, mode: 0o700})
  await chmod(path, 0o700)
}

export async function readKeyFile(path: string): Promise<SigningKey> {
  const pem = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`key file ${path}: ${error.code === 'ENOENT' ? 'not found' : error.message}`, {cause: error})
  })
  try {
    return signingKeyFromPem(pem)
  } catch (error) {
    throw new UsageError(`key file ${path}: not an Ed25519 private key in PKCS#8 PEM`, {cause: error})
  }
}
