import {Flags} from '@oclif/core'
import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import type {PendingUpdatesView} from '../../../agent/updates/local.js'
import type {StoredUpdateApproval} from '../../../agent/updates/approvals.js'
import {TetherCommand} from '../../../shared/command.js'
import {renderFields, renderTable} from '../../../shared/output.js'

/** MiB with one decimal: package sizes are what a person compares here. */
const humanBytes = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`

export function renderUpdate(u: StoredUpdateApproval): string {
  return renderFields([
    ['update', u.jobId],
    ['version', u.version],
    ['package', `${u.targetPath} (${humanBytes(u.length)}, sha256 ${u.sha256.slice(0, 16)}…)`],
    ['state', u.state],
    ['decided', u.decidedAt ? `${u.decidedAt} by ${u.decidedBy ?? '?'}` : null],
  ])
}

export default class AgentUpdatesPending extends TetherCommand {
  static override description = `List software updates that wait for a decision at this device (agent.json updates.requireApproval).

Each one is downloaded and verified already. \`tether agent updates approve ID\` lets it install (inside updates.window, if set); \`tether agent updates defer ID\` refuses it (the server sees DEFERRED).`
  static override examples = ['<%= config.bin %> agent updates pending', '<%= config.bin %> agent updates pending --all --json']
  static override enableJsonFlag = true
  static override flags = {
    all: Flags.boolean({description: 'Also list recently decided updates.'}),
    'data-dir': agentDataDirFlag,
  }

  async run(): Promise<PendingUpdatesView> {
    const {flags} = await this.parse(AgentUpdatesPending)
    const [{pendingUpdates}, {agentDataDir}] = await Promise.all([import('../../../agent/updates/local.js'), import('../../../agent/data-dir.js')])
    const view = await pendingUpdates(agentDataDir(flags['data-dir']), {all: flags.all})
    if (!this.jsonEnabled()) {
      this.log(`Installed version: ${view.installedVersion ?? 'unknown'}`)
      this.log(
        view.updates.length === 0
          ? 'No updates wait for a decision.'
          : renderTable(
              ['Id', 'Version', 'Package', 'Size', 'State', 'Received'],
              view.updates.map((u) => [u.jobId, u.version, u.targetPath, humanBytes(u.length), u.decidedBy ? `${u.state} by ${u.decidedBy}` : u.state, u.receivedAt]),
            ),
      )
    }
    return view
  }
}
