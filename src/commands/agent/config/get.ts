import {Args} from '@oclif/core'
import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import type {ConfigResult} from '../../../agent/config-edit.js'
import {TetherCommand} from '../../../shared/command.js'

export default class AgentConfigGet extends TetherCommand {
  static override summary = "Show the agent's settings (agent.json), all of them or one dotted KEY."
  static override description = `Values are shown as the agent reads them, defaults included. Change them with \`tether agent config set|add|remove\`; the running agent picks changes up without a restart.`

  static override examples = [
    '<%= config.bin %> agent config get',
    '<%= config.bin %> agent config get logSources',
    '<%= config.bin %> agent config get backoff.capMs --json',
  ]

  static override enableJsonFlag = true
  static override args = {key: Args.string({description: 'Dotted key, e.g. logSources or jobs.concurrency (default: everything).'})}
  static override flags = {'data-dir': agentDataDirFlag}

  async run(): Promise<ConfigResult> {
    const {args, flags} = await this.parse(AgentConfigGet)
    const [{getConfig}, {agentDataDir}, {renderConfigValue}] = await Promise.all([import('../../../agent/config-edit.js'), import('../../../agent/data-dir.js'), import('../../../agent/config-render.js')])
    const result = await getConfig(agentDataDir(flags['data-dir']), args.key)
    if (!this.jsonEnabled()) this.log(renderConfigValue(result.value))
    return result
  }
}
