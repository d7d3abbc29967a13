import {readFile} from 'node:fs/promises'
import {z} from 'zod'
import {AuditCheckpoint, CheckpointPublicKey} from '../protocol/audit-checkpoint.js'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {checkpointSignatureValid} from '../shared/checkpoint-signature.js'
import {UsageError} from '../shared/errors.js'

/**
 * A checkpoint an auditor keeps outside the support center: the file `tether audit checkpoint
 * -o FILE` writes (the same JSON as its --json output), read back by `tether audit verify
 * --checkpoint FILE`. A bare checkpoint object is accepted too (e.g. one copied from a device's
 * local audit).
 */
const CheckpointFile = z.union([z.strictObject({checkpoint: AuditCheckpoint, publicKey: CheckpointPublicKey}), AuditCheckpoint])

export interface KeptCheckpoint {
  checkpoint: AuditCheckpoint
  publicKey: CheckpointPublicKey | null
}

export async function readCheckpointFile(path: string, flag = '--checkpoint'): Promise<KeptCheckpoint> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new UsageError(`${flag} ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new UsageError(`${flag} ${path}: not JSON; expected the file written by \`tether audit checkpoint -o FILE\``)
  }
  const parsed = CheckpointFile.safeParse(json)
  if (!parsed.success) throw new UsageError(`${flag} ${path}: not an audit checkpoint (expected the file written by \`tether audit checkpoint -o FILE\`)`)
  const kept = 'checkpoint' in parsed.data ? parsed.data : {checkpoint: parsed.data, publicKey: null}
  // The key in the file only proves the file is self-consistent (the server checks against its own key).
  if (kept.publicKey && !checkpointSignatureValid(kept.checkpoint, kept.publicKey)) {
    throw new UsageError(`${flag} ${path}: the checkpoint's signature does not verify with the key in the file (the file was altered)`)
  }
  return kept
}

export async function writeCheckpointFile(path: string, kept: {checkpoint: AuditCheckpoint; publicKey: CheckpointPublicKey}): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(kept, null, 2)}\n`, 0o644)
}
