import {Args} from '@oclif/core'
import type {StoredAccessRequest} from '../../../agent/access-file.js'
import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import {TetherCommand} from '../../../shared/command.js'
import {renderDecided} from './approve.js'

export default class AgentAccessRevoke extends TetherCommand {
  static override description = 'End an approved grant now, before it expires (recorded in the local audit and reported to the server).'
  static override examples = ['<%= config.bin %> agent access revoke 0b6f3c1e']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Request id (or a unique prefix of 4+ characters).', required: true})}
  static override flags = {'data-dir': agentDataDirFlag}

  async run(): Promise<StoredAccessRequest> {
    const {args, flags} = await this.parse(AgentAccessRevoke)
    const [{decideAccess}, {agentDataDir}] = await Promise.all([import('../../../agent/access.js'), import('../../../agent/data-dir.js')])
    const decided = await decideAccess(agentDataDir(flags['data-dir']), args.id, 'revoked', undefined)
    if (!this.jsonEnabled()) this.log(renderDecided(decided))
    return decided
  }
}
