import {z} from 'zod'
import {AuditCheckpoint, CheckpointKeyId, CheckpointPublicKey} from '../protocol/audit-checkpoint.js'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {readTextIfExists} from '../shared/optional-file.js'
import type {AgentFiles} from './data-dir.js'

/**
 * The two small files behind the agent's audit witness (witness.ts): checkpoint-key.json, the
 * server's checkpoint key pinned on first sight, and witness.json, the latest checkpoint that
 * verified under it. Both are written atomically (0600) under the data-dir lock by the running
 * agent and read without the lock by `tether agent status` (an atomic rename is never torn).
 */
export const PinnedCheckpointKey = z.object({
  v: z.literal(1),
  key: CheckpointPublicKey,
  pinnedAt: z.string(),
  /**
   * The key pinned before this one, when the server changed keys (re-pinned, and recorded as
   * audit.checkpoint.key-changed in the local audit); null otherwise.
   */
  previous: z.object({keyId: CheckpointKeyId, pinnedAt: z.string()}).nullable(),
})
export type PinnedCheckpointKey = z.infer<typeof PinnedCheckpointKey>

export const StoredWitness = z.object({
  v: z.literal(1),
  checkpoint: AuditCheckpoint,
  receivedAt: z.string(),
})
export type StoredWitness = z.infer<typeof StoredWitness>

type WitnessPaths = Pick<AgentFiles, 'checkpointKey' | 'witness'>

/** null when the file does not exist; a file that is not what we wrote is an error (tampering or a bug), never "no key". */
async function readJson<T>(path: string, schema: z.ZodType<T>): Promise<T | null> {
  const text = await readTextIfExists(path)
  if (text === null) return null
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${(error as Error).message}`, {cause: error})
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) throw new Error(`${path}: ${parsed.error.issues[0]?.path.join('.') || '(root)'}: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
  return parsed.data
}

export function readPinnedKey(files: WitnessPaths): Promise<PinnedCheckpointKey | null> {
  return readJson(files.checkpointKey, PinnedCheckpointKey)
}

export function readStoredWitness(files: WitnessPaths): Promise<StoredWitness | null> {
  return readJson(files.witness, StoredWitness)
}

export async function writePinnedKey(files: WitnessPaths, pinned: PinnedCheckpointKey): Promise<void> {
  await writeFileAtomic(files.checkpointKey, `${JSON.stringify(pinned, null, 2)}\n`, 0o600)
}

export async function writeStoredWitness(files: WitnessPaths, witness: StoredWitness): Promise<void> {
  await writeFileAtomic(files.witness, `${JSON.stringify(witness, null, 2)}\n`, 0o600)
}

/** What `tether agent status` shows about the witness (part of its --json contract). */
export interface WitnessReport {
  checkpointKey: {keyId: string; pinnedAt: string; previousKeyId: string | null} | null
  witness: {seq: number; hash: string; time: string; keyId: string; receivedAt: string} | null
}

export async function witnessReport(files: WitnessPaths): Promise<WitnessReport> {
  const [pinned, stored] = await Promise.all([readPinnedKey(files), readStoredWitness(files)])
  return {
    checkpointKey: pinned && {keyId: pinned.key.keyId, pinnedAt: pinned.pinnedAt, previousKeyId: pinned.previous?.keyId ?? null},
    witness: stored && {seq: stored.checkpoint.seq, hash: stored.checkpoint.hash, time: stored.checkpoint.time, keyId: stored.checkpoint.keyId, receivedAt: stored.receivedAt},
  }
}
