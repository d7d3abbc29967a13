import {readdir} from 'node:fs/promises'
import {join} from 'node:path'
import {readKeyFile, type SigningKey} from '../../shared/tuf/index.js'

/**
 * Where things live in a release repository (`--dir REPO`):
 *   keys/            private root and targets keys (0600 files, 0700 dir); keys/retired/ after rotation
 *   keys/online/     test-only snapshot/timestamp keys, when init ran without --online-keys
 *   metadata/        1.root.json, 2.root.json ..., root.json (the newest), targets.json
 *   targets/         <version>/<file>, the packages targets.json signs
 * `tether updates publish` uploads metadata/ and targets/; keys/ never leaves the machine.
 */
export function repoPaths(dir: string) {
  const metadata = join(dir, 'metadata')
  return {
    dir,
    keys: join(dir, 'keys'),
    retiredKeys: join(dir, 'keys', 'retired'),
    onlineKeys: join(dir, 'keys', 'online'),
    metadata,
    root: join(metadata, 'root.json'),
    versionedRoot: (version: number) => join(metadata, `${version}.root.json`),
    targetsJson: join(metadata, 'targets.json'),
    targets: join(dir, 'targets'),
  }
}
export type RepoPaths = ReturnType<typeof repoPaths>

export interface KeyOnDisk extends SigningKey {
  file: string
}

/**
 * Every offline key file under keys/ (retired ones included, online/ excluded). Which role a key
 * signs for is decided by root.json's key ids, not by the file name, so a renamed file still works
 * and a stray file signs nothing.
 */
export async function loadOfflineKeys(paths: RepoPaths): Promise<KeyOnDisk[]> {
  const entries = await readdir(paths.keys, {withFileTypes: true, recursive: true}).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return []
    throw error
  })
  const files = entries
    .filter((e) => e.isFile() && e.name.endsWith('.key'))
    .map((e) => join(e.parentPath, e.name))
    .filter((file) => !file.startsWith(`${paths.onlineKeys}/`))
    .sort()
  return Promise.all(files.map(async (file) => ({...(await readKeyFile(file)), file})))
}
