import {agentFiles, readAgentConfig} from '../data-dir.js'
import {localActor} from '../enroll.js'
import {EventRecorder} from '../events.js'
import {decideUpdate, readApprovals, type StoredUpdateApproval} from './approvals.js'
import {readInstalled} from './installed.js'
import {updateFiles} from './paths.js'

/** `tether agent updates pending|approve|defer`: what someone at the device sees and decides (the running agent polls the file). */
export interface PendingUpdatesView {
  installedVersion: string | null
  updates: StoredUpdateApproval[]
}

export async function pendingUpdates(dataDir: string, options: {all?: boolean} = {}): Promise<PendingUpdatesView> {
  const files = agentFiles(dataDir)
  await readAgentConfig(files)
  const u = updateFiles(files.updates)
  const [all, installed] = await Promise.all([readApprovals(u.approvals), readInstalled(u.installed)])
  return {installedVersion: installed?.version ?? null, updates: options.all ? all : all.filter((a) => a.state === 'pending')}
}

export async function decideUpdateOnDevice(dataDir: string, id: string, decision: 'approved' | 'deferred', now = Date.now()): Promise<StoredUpdateApproval> {
  const files = agentFiles(dataDir)
  const config = await readAgentConfig(files)
  return decideUpdate(updateFiles(files.updates).approvals, new EventRecorder(files, config.outboxMax), id, decision, localActor(), now)
}
