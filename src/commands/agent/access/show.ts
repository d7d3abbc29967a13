import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import type {AccessView} from '../../../agent/access.js'
import {TetherCommand} from '../../../shared/command.js'
import {renderFields} from '../../../shared/output.js'

export function renderAccess(view: AccessView): string {
  return renderFields([
    ['mode', view.mode],
    ['until', view.until ?? (view.mode === 'allow' ? 'no expiry' : null)],
    ['changed', view.changedAt ? `${view.changedAt} by ${view.changedBy ?? '?'}` : 'never (default)'],
    ['tunnel ports', view.allowedTunnelPorts.length > 0 ? view.allowedTunnelPorts.join(', ') : 'none'],
    ['job kinds', view.acceptedJobKinds.join(', ') || 'none'],
    ['requests', view.mode === 'approval-required' || view.pendingRequests + view.activeGrants > 0 ? `${view.pendingRequests} pending, ${view.activeGrants} approved (tether agent access requests)` : null],
  ])
}

export default class AgentAccessShow extends TetherCommand {
  static override description = 'Show whether this device allows remote access now, and what may be reached through it.'
  static override examples = ['<%= config.bin %> agent access show', '<%= config.bin %> agent access show --json']
  static override enableJsonFlag = true
  static override flags = {'data-dir': agentDataDirFlag}

  async run(): Promise<AccessView> {
    const {flags} = await this.parse(AgentAccessShow)
    const [{showAccess}, {agentDataDir}] = await Promise.all([import('../../../agent/access.js'), import('../../../agent/data-dir.js')])
    const view = await showAccess(agentDataDir(flags['data-dir']))
    if (!this.jsonEnabled()) this.log(renderAccess(view))
    return view
  }
}
