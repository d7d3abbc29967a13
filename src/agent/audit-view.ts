import {agentFiles} from './data-dir.js'
import {LocalAudit, type LocalAuditEntry, type VerifyResult} from './local-audit.js'

export interface AuditView {
  entries: LocalAuditEntry[]
  verify?: VerifyResult
}

/** The local audit for `tether agent audit`: entries since a time, and optionally the chain check. */
export async function readLocalAudit(dataDir: string, options: {sinceMs?: number; verify?: boolean; now?: number}): Promise<AuditView> {
  const audit = new LocalAudit(agentFiles(dataDir).audit)
  const from = options.sinceMs === undefined ? undefined : (options.now ?? Date.now()) - options.sinceMs
  // Verification reads the raw lines itself: a damaged line must not stop the listing.
  const verify = options.verify ? await audit.verify() : undefined
  let entries: LocalAuditEntry[]
  try {
    entries = await audit.readAll()
  } catch (error) {
    if (!verify) throw error
    entries = []
  }
  if (from !== undefined) entries = entries.filter((e) => Date.parse(e.time) >= from)
  return {entries, ...(verify ? {verify} : {})}
}
