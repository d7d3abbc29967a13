import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'

/** The SBOM shipped beside package.json (`npm run sbom`, run at install and before packing). */
export const SBOM_FILE = 'sbom.cdx.json'

export interface SbomInfo {
  file: string
  format: string
  sha256: string
  components: number
}

/** What `tether version` says of the SBOM of this installation; null when none was written. */
export async function readSbomInfo(packageRoot: string): Promise<SbomInfo | null> {
  const file = join(packageRoot, SBOM_FILE)
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  const bom = JSON.parse(bytes.toString('utf8')) as {bomFormat?: string; specVersion?: string; components?: unknown[]}
  return {file, format: `${bom.bomFormat ?? '?'} ${bom.specVersion ?? '?'}`, sha256: createHash('sha256').update(bytes).digest('hex'), components: bom.components?.length ?? 0}
}
