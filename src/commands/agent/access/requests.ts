import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import type {StoredAccessRequest} from '../../../agent/access-file.js'
import {TetherCommand} from '../../../shared/command.js'
import {formatDuration} from '../../../shared/duration.js'
import {renderTable} from '../../../shared/output.js'

export interface AgentAccessRequestsResult {
  requests: StoredAccessRequest[]
}

export function renderRequests(requests: StoredAccessRequest[]): string {
  if (requests.length === 0) return 'No access requests.'
  return renderTable(
    ['Id', 'User', 'Reason', 'Ports', 'For', 'State', 'Until', 'Received'],
    requests.map((r) => [
      r.id,
      r.user,
      r.reason,
      r.ports.length > 0 ? r.ports.join(', ') : 'any allowed',
      formatDuration(r.durationSeconds * 1000),
      r.state === 'pending' ? `pending (decide by ${r.expiresAt})` : r.decidedBy ? `${r.state} by ${r.decidedBy}` : r.state,
      r.until ?? '-',
      r.receivedAt,
    ]),
  )
}

export default class AgentAccessRequests extends TetherCommand {
  static override description = `List engineers' requests for temporary access to this device, newest first.

Approve one with \`tether agent access approve ID\` (an id prefix of 4+ characters is enough), or deny it. Requests nobody decides expire; so do grants.`
  static override examples = ['<%= config.bin %> agent access requests', '<%= config.bin %> agent access requests --json']
  static override enableJsonFlag = true
  static override flags = {'data-dir': agentDataDirFlag}

  async run(): Promise<AgentAccessRequestsResult> {
    const {flags} = await this.parse(AgentAccessRequests)
    const [{accessRequests}, {agentDataDir}] = await Promise.all([import('../../../agent/access.js'), import('../../../agent/data-dir.js')])
    const requests = await accessRequests(agentDataDir(flags['data-dir']))
    if (!this.jsonEnabled()) this.log(renderRequests(requests))
    return {requests}
  }
}
