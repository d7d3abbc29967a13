import {Args, Flags} from '@oclif/core'
import type {StoredAccessRequest} from '../../../agent/access-file.js'
import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import {TetherCommand} from '../../../shared/command.js'
import {parseDuration} from '../../../shared/duration.js'
import {renderFields} from '../../../shared/output.js'

/** What approve, deny and revoke print: the request as it is now. */
export function renderDecided(r: StoredAccessRequest): string {
  return renderFields([
    ['request', r.id],
    ['user', r.user],
    ['reason', r.reason],
    ['state', r.state],
    ['ports', r.ports.join(', ') || 'any allowed'],
    ['until', r.until],
    ['decided', r.decidedAt ? `${r.decidedAt} by ${r.decidedBy ?? '?'}` : null],
  ])
}

export default class AgentAccessApprove extends TetherCommand {
  static override description = `Approve an engineer's access request: only that engineer may reach only the ports asked for, until the grant ends.

--for can shorten the grant (never lengthen it beyond what was asked). The approval is written to the local audit and reported to the server; \`tether agent access revoke ID\` ends it early.`
  static override examples = ['<%= config.bin %> agent access approve 0b6f3c1e', '<%= config.bin %> agent access approve 0b6f3c1e --for 1h']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Request id (or a unique prefix of 4+ characters), from `tether agent access requests`.', required: true})}
  static override flags = {
    for: Flags.string({description: 'How long the grant lasts (default: what was asked for).', helpValue: 'DURATION'}),
    'data-dir': agentDataDirFlag,
  }

  async run(): Promise<StoredAccessRequest> {
    const {args, flags} = await this.parse(AgentAccessApprove)
    const forMs = flags.for === undefined ? undefined : parseDuration(flags.for, '--for')
    const [{decideAccess}, {agentDataDir}] = await Promise.all([import('../../../agent/access.js'), import('../../../agent/data-dir.js')])
    const decided = await decideAccess(agentDataDir(flags['data-dir']), args.id, 'approved', forMs)
    if (!this.jsonEnabled()) this.log(renderDecided(decided))
    return decided
  }
}
