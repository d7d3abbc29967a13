import {Args} from '@oclif/core'
import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import type {StoredUpdateApproval} from '../../../agent/updates/approvals.js'
import {TetherCommand} from '../../../shared/command.js'
import {renderUpdate} from './pending.js'

export default class AgentUpdatesDefer extends TetherCommand {
  static override description = `Defer (refuse) a software update that waits at this device: its job ends refused with DEFERRED.

The server can deploy it again later. The decision is written to the local audit and reported to the server.`
  static override examples = ['<%= config.bin %> agent updates defer 0b6f3c1e']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Update id (the job id, or a unique prefix of 4+ characters), from `tether agent updates pending`.', required: true})}
  static override flags = {'data-dir': agentDataDirFlag}

  async run(): Promise<StoredUpdateApproval> {
    const {args, flags} = await this.parse(AgentUpdatesDefer)
    const [{decideUpdateOnDevice}, {agentDataDir}] = await Promise.all([import('../../../agent/updates/local.js'), import('../../../agent/data-dir.js')])
    const decided = await decideUpdateOnDevice(agentDataDir(flags['data-dir']), args.id, 'deferred')
    if (!this.jsonEnabled()) this.log(renderUpdate(decided))
    return decided
  }
}
