import {z} from 'zod'
import type {AccessMode, AccessModeName} from '../protocol/agent/index.js'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {UsageError} from '../shared/errors.js'
import {readTextIfExists} from '../shared/optional-file.js'

/**
 * The customer's access policy, decided on the device and enforced by the device: in
 * no-access mode every remote-access request is refused here, whatever the server says; in
 * approval-required mode only an engineer holding a grant approved at the device gets in
 * (grants.ts, access-requests.ts).
 * policy.json is written by `tether agent access set` and re-read by the running agent.
 * An allow with `until` is temporary: when it passes, the mode is no-access again.
 */
export const PolicyFile = z.object({
  mode: z.enum(['allow', 'no-access', 'approval-required']),
  until: z.string().nullable().default(null),
  changedAt: z.string().optional(),
  changedBy: z.string().optional(),
})
export type PolicyFile = z.infer<typeof PolicyFile>

/** With no policy.json the device allows remote access (the manufacturer's default service mode). */
export const DEFAULT_POLICY: PolicyFile = {mode: 'allow', until: null}

export async function readPolicy(path: string): Promise<PolicyFile> {
  const text = await readTextIfExists(path)
  if (text === null) return DEFAULT_POLICY
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = null
  }
  const parsed = PolicyFile.safeParse(json)
  // A damaged policy file must never open the device: fail closed.
  if (!parsed.success) return {mode: 'no-access', until: null, changedBy: 'agent (policy.json unreadable: failing closed)'}
  return parsed.data
}

export async function writePolicy(path: string, policy: PolicyFile): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(policy, null, 2)}\n`, 0o600)
}

/** The mode in force at `now`: a temporary allow that has passed is no-access. */
export function effectiveMode(policy: PolicyFile, now: number): AccessMode & {expired: boolean} {
  if (policy.mode === 'allow' && policy.until !== null && Date.parse(policy.until) <= now) return {mode: 'no-access', until: null, expired: true}
  return {mode: policy.mode, until: policy.mode === 'allow' ? policy.until : null, expired: false}
}

/** Builds the new policy for `access set`; --until only makes sense for a temporary allow. */
export function newPolicy(mode: AccessModeName, untilMs: number | undefined, actor: string, now: number): PolicyFile {
  if (untilMs !== undefined && mode !== 'allow') throw new UsageError(`--until: only a temporary allow can expire; ${mode} stays until it is changed`)
  return {mode, until: untilMs === undefined ? null : new Date(now + untilMs).toISOString(), changedAt: new Date(now).toISOString(), changedBy: actor}
}
