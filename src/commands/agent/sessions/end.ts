import {Args, Flags} from '@oclif/core'
import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import {TetherCommand} from '../../../shared/command.js'
import {UsageError} from '../../../shared/errors.js'

export interface SessionsEndResult {
  ended: string[]
  stillLive: string[]
}

export default class AgentSessionsEnd extends TetherCommand {
  static override description = `End live remote sessions on this device now (on the device).

The running agent cuts the streams within a second, records who ended them in the local audit, and tells the server. To keep them from coming back, also set the access mode (\`tether agent access set no-access\`). \`tether agent status\` lists live sessions and their ids.`

  static override examples = ['<%= config.bin %> agent sessions end --all', '<%= config.bin %> agent sessions end 3kXq9aB2cD1eFg7h']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Session id (tether agent status).'})}
  static override flags = {
    all: Flags.boolean({description: 'End every live session.'}),
    'data-dir': agentDataDirFlag,
  }

  async run(): Promise<SessionsEndResult> {
    const {args, flags} = await this.parse(AgentSessionsEnd)
    if (!args.id === !flags.all) throw new UsageError('name one session id, or pass --all', {suggestions: ['tether agent status   # lists live sessions']})
    const {endSessions} = await import('../../../agent/tunnels/end-sessions-cli.js')
    const result = await endSessions(flags['data-dir'], flags.all ? 'all' : [args.id!])
    if (!this.jsonEnabled()) this.log(result.ended.length > 0 ? `Ended ${result.ended.join(', ')}.` : 'No such live session.')
    return result
  }
}
