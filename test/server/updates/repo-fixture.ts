import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {addTarget} from '../../../src/client/update-repo/add-target.js'
import {initRepo} from '../../../src/client/update-repo/init.js'
import {rotateRoot} from '../../../src/client/update-repo/rotate-root.js'
import type {OnlinePublicKeys} from '../../../src/protocol/updates/index.js'

const DAY = 86_400_000

/** A release repository made by the release machine's own code, naming the server's online keys. */
export interface RepoFixture {
  dir: string
  add(version: string, content: Buffer, models?: string[]): Promise<{path: string}>
  rotate(options?: {newKeys?: number}): Promise<void>
  json(name: string): Promise<Record<string, unknown>>
  close(): Promise<void>
}

export async function makeRepo(online: OnlinePublicKeys, options: {threshold?: number; keys?: number} = {}): Promise<RepoFixture> {
  const base = await mkdtemp(join(tmpdir(), 'tether-repo-'))
  const dir = join(base, 'repo')
  const keysFile = join(base, 'online-keys.json')
  await writeFile(keysFile, JSON.stringify(online))
  await initRepo({dir, threshold: options.threshold ?? 2, keys: options.keys ?? 3, rootExpiresMs: 365 * DAY, targetsExpiresMs: 90 * DAY, onlineKeysFile: keysFile})
  return {
    dir,
    async add(version, content, models = ['Analyzer X200']) {
      const pkg = join(base, `pkg-${version}.bin`)
      await writeFile(pkg, content)
      const result = await addTarget({dir, packagePath: pkg, version, models, expiresMs: 90 * DAY})
      return {path: result.path}
    },
    async rotate(rotateOptions = {}) {
      await rotateRoot({dir, expiresMs: 365 * DAY, ...rotateOptions})
    },
    json: async (name) => JSON.parse(await readFile(join(dir, 'metadata', name), 'utf8')) as Record<string, unknown>,
    close: () => rm(base, {recursive: true, force: true}),
  }
}
