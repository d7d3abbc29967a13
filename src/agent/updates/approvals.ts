import {mkdir} from 'node:fs/promises'
import {dirname} from 'node:path'
import {z} from 'zod'
import {writeFileAtomic} from '../../shared/atomic-file.js'
import {ConflictError, NotFoundError, UsageError} from '../../shared/errors.js'
import {readTextIfExists} from '../../shared/optional-file.js'
import type {EventRecorder} from '../events.js'

/**
 * approvals.json: updates that wait for someone at the device (agent.json `updates.requireApproval`).
 * The running agent adds an entry and polls it; `tether agent updates approve|defer ID` decides it
 * from another process, under the data lock, with the decision in the local audit and, as a
 * `device.update.step`, on its way to the server in the same locked step (events.ts recordChange).
 */
/** withdrawn: the job ended (its timeout) before anyone decided; nothing is left to approve. */
export const UpdateApprovalState = z.enum(['pending', 'approved', 'deferred', 'withdrawn'])
export type UpdateApprovalState = z.infer<typeof UpdateApprovalState>

export const StoredUpdateApproval = z.object({
  jobId: z.string().min(1).max(128),
  deploymentId: z.string().max(64),
  version: z.string().max(64),
  targetPath: z.string().max(256),
  /** What the package is, so the person deciding sees what they approve. */
  length: z.number().int().nonnegative(),
  sha256: z.string(),
  receivedAt: z.string(),
  state: UpdateApprovalState,
  decidedAt: z.string().nullable(),
  decidedBy: z.string().nullable(),
})
export type StoredUpdateApproval = z.infer<typeof StoredUpdateApproval>

const ApprovalsFile = z.object({version: z.literal(1), updates: z.array(StoredUpdateApproval)})

/** Decided entries kept for `pending --all`-style inspection; the audit keeps them all. */
const KEEP_DECIDED = 50

export async function readApprovals(path: string): Promise<StoredUpdateApproval[]> {
  const text = await readTextIfExists(path)
  if (text === null) return []
  let parsed
  try {
    parsed = ApprovalsFile.safeParse(JSON.parse(text))
  } catch {
    throw new UsageError(`${path} is not JSON; fix or remove it on the device`)
  }
  if (!parsed.success) throw new UsageError(`${path}: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`)
  return parsed.data.updates
}

async function writeApprovals(path: string, updates: StoredUpdateApproval[]): Promise<void> {
  const pending = updates.filter((u) => u.state === 'pending')
  const decided = updates.filter((u) => u.state !== 'pending').slice(0, KEEP_DECIDED)
  await mkdir(dirname(path), {recursive: true, mode: 0o700})
  await writeFileAtomic(path, `${JSON.stringify({version: 1, updates: [...pending, ...decided]}, null, 2)}\n`, 0o600)
}

/** The running agent asks: stored as pending unless this job already has an entry (a re-pushed job keeps its decision). */
export async function requestApproval(path: string, recorder: EventRecorder, entry: Omit<StoredUpdateApproval, 'state' | 'decidedAt' | 'decidedBy'>): Promise<StoredUpdateApproval> {
  return recorder.recordChange(async () => {
    const all = await readApprovals(path)
    const known = all.find((u) => u.jobId === entry.jobId)
    if (known) return {result: known, records: []}
    const stored: StoredUpdateApproval = {...entry, state: 'pending', decidedAt: null, decidedBy: null}
    return {
      result: stored,
      save: () => writeApprovals(path, [stored, ...all]),
      records: [{action: 'update.approval.requested', outcome: 'success', actor: 'agent', details: {jobId: entry.jobId, version: entry.version, targetPath: entry.targetPath}, options: {forServer: false}}],
    }
  })
}

export async function approvalOf(path: string, jobId: string): Promise<StoredUpdateApproval | undefined> {
  return (await readApprovals(path)).find((u) => u.jobId === jobId)
}

/** `tether agent updates approve|defer ID` (ID: a job id or a unique prefix of at least 4 characters). */
export async function decideUpdate(path: string, recorder: EventRecorder, idOrPrefix: string, decision: 'approved' | 'deferred', actor: string, now: number): Promise<StoredUpdateApproval> {
  return recorder.recordChange(async () => {
    const all = await readApprovals(path)
    const matches = all.filter((u) => u.jobId === idOrPrefix || (idOrPrefix.length >= 4 && u.jobId.startsWith(idOrPrefix)))
    if (matches.length === 0) throw new NotFoundError(`no update ${idOrPrefix} waits for a decision here`, {suggestions: ['See `tether agent updates pending`.']})
    if (matches.length > 1) throw new UsageError(`"${idOrPrefix}" matches ${matches.length} updates; give more of the id`)
    const entry = matches[0]
    if (entry.state !== 'pending') throw new ConflictError(`update ${entry.jobId} (${entry.version}) was already ${entry.state} by ${entry.decidedBy ?? '?'} at ${entry.decidedAt ?? '?'}`)
    const decided: StoredUpdateApproval = {...entry, state: decision, decidedAt: new Date(now).toISOString(), decidedBy: actor}
    return {
      result: decided,
      save: () => writeApprovals(path, [decided, ...all.filter((u) => u.jobId !== entry.jobId)]),
      records: [{action: 'device.update.step', outcome: decision === 'approved' ? 'success' : 'denied', actor, details: {jobId: entry.jobId, deploymentId: entry.deploymentId, version: entry.version, step: decision}, options: {forServer: true}}],
    }
  })
}

/** The job stopped waiting for good (its timeout): a pending entry would only mislead `pending`. */
export async function withdrawApproval(path: string, recorder: EventRecorder, jobId: string, reason: string, now: number): Promise<void> {
  await recorder.recordChange(async () => {
    const all = await readApprovals(path)
    const entry = all.find((u) => u.jobId === jobId && u.state === 'pending')
    if (!entry) return {result: undefined, records: []}
    const withdrawn: StoredUpdateApproval = {...entry, state: 'withdrawn', decidedAt: new Date(now).toISOString(), decidedBy: 'agent'}
    return {
      result: undefined,
      save: () => writeApprovals(path, [withdrawn, ...all.filter((u) => u.jobId !== jobId)]),
      records: [{action: 'update.approval.withdrawn', outcome: 'failure', actor: 'agent', details: {jobId, version: entry.version, reason}, options: {forServer: false}}],
    }
  })
}
