import {mkdir} from 'node:fs/promises'
import {dirname} from 'node:path'
import {z} from 'zod'
import {SemVer} from '../../protocol/updates/index.js'
import {writeFileAtomic} from '../../shared/atomic-file.js'
import {readTextIfExists} from '../../shared/optional-file.js'

/**
 * installed.json: the software version this device runs, as the last successful update left it.
 * An image may ship one (`{"version": "2.3.0"}`) so that the first update already obeys the
 * version rule; without it the installed version is unknown (null) and only a target's
 * minVersion can refuse (an unknown version is never "at least" anything).
 */
export const InstalledSoftware = z.object({
  version: SemVer,
  installedAt: z.string().optional(),
  jobId: z.string().optional(),
  deploymentId: z.string().optional(),
})
export type InstalledSoftware = z.infer<typeof InstalledSoftware>

/** The installed version, or null when unknown. A damaged file is an error: the version rule must not guess. */
export async function readInstalled(path: string): Promise<InstalledSoftware | null> {
  const text = await readTextIfExists(path)
  if (text === null) return null
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new Error(`${path} is not JSON; fix or remove it (it holds the installed software version)`)
  }
  const parsed = InstalledSoftware.safeParse(json)
  if (!parsed.success) throw new Error(`${path}: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`)
  return parsed.data
}

export async function writeInstalled(path: string, installed: InstalledSoftware): Promise<void> {
  await mkdir(dirname(path), {recursive: true, mode: 0o700})
  await writeFileAtomic(path, `${JSON.stringify(installed, null, 2)}\n`, 0o644)
}
