import {Args, Flags} from '@oclif/core'
import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import type {AccessView} from '../../../agent/access.js'
import type {AccessModeName} from '../../../protocol/agent/messages.js'
import {TetherCommand} from '../../../shared/command.js'
import {parseDuration} from '../../../shared/duration.js'
import {renderAccess} from './show.js'

export default class AgentAccessSet extends TetherCommand {
  static override description = `Allow or forbid remote access to this device (decided and enforced on the device).

In no-access mode the agent itself refuses every remote-access request (tunnels, remote desktop), whatever the server says. "allow --until 2h" is a temporary allow that ends on its own. In approval-required mode an engineer must ask first (tether access request) and someone here approves (tether agent access approve ID). Each change is written to the local audit and reported to the server.`

  static override examples = [
    '<%= config.bin %> agent access set no-access',
    '<%= config.bin %> agent access set allow --until 2h',
    '<%= config.bin %> agent access set allow',
    '<%= config.bin %> agent access set approval-required',
  ]

  static override enableJsonFlag = true
  static override args = {mode: Args.string({description: 'allow, no-access or approval-required', required: true, options: ['allow', 'no-access', 'approval-required']})}
  static override flags = {
    until: Flags.string({description: 'Make an allow temporary: it ends after this long (e.g. 30m, 2h, 1d).', helpValue: 'DURATION'}),
    'data-dir': agentDataDirFlag,
  }

  async run(): Promise<AccessView> {
    const {args, flags} = await this.parse(AgentAccessSet)
    const untilMs = flags.until === undefined ? undefined : parseDuration(flags.until, '--until')
    const [{setAccess}, {agentDataDir}] = await Promise.all([import('../../../agent/access.js'), import('../../../agent/data-dir.js')])
    const view = await setAccess(agentDataDir(flags['data-dir']), args.mode as AccessModeName, untilMs)
    if (!this.jsonEnabled()) this.log(renderAccess(view))
    return view
  }
}
