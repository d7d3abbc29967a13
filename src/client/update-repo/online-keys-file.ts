import {readFile} from 'node:fs/promises'
import type {Key} from '@tufjs/models'
import {OnlinePublicKeys} from '../../protocol/updates/index.js'
import {UsageError} from '../../shared/errors.js'
import {keyFromEntry} from '../../shared/tuf/index.js'

export interface OnlineKeys {
  snapshot: Key[]
  timestamp: Key[]
}

/** Reads `--online-keys FILE` (what `tether server updates-keys` prints), refusing a key whose id is not its own. */
export async function readOnlineKeysFile(path: string): Promise<OnlineKeys> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--online-keys ${path}: ${error.code === 'ENOENT' ? 'not found' : error.message}`, {
      suggestions: ['on the server, run `tether server updates-keys > online-keys.json` and copy that file here'],
    })
  })
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new UsageError(`--online-keys ${path}: not JSON`)
  }
  const parsed = OnlinePublicKeys.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new UsageError(`--online-keys ${path}: ${issue?.path.join('.') || 'file'}: ${issue?.message ?? 'invalid'}`)
  }
  const keys = (role: 'snapshot' | 'timestamp'): Key[] =>
    parsed.data[role].map((entry, i) => {
      const key = keyFromEntry(entry)
      if (!key) throw new UsageError(`--online-keys ${path}: ${role}.${i}.keyid does not match its public key`)
      return key
    })
  return {snapshot: keys('snapshot'), timestamp: keys('timestamp')}
}
