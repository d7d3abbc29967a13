import {Args} from '@oclif/core'
import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import type {ConfigResult} from '../../../agent/config-edit.js'
import {TetherCommand} from '../../../shared/command.js'

export default class AgentConfigRemove extends TetherCommand {
  static override summary = "Remove VALUE from a list setting, or without VALUE reset KEY to its default (or delete a named entry)."
  static override description = `VALUE is JSON when it parses as JSON (numbers, lists, objects, null), else text. The new agent.json is checked with the schema the agent reads it with (a refusal names the key and what is allowed), written atomically and recorded in the local audit (\`tether agent audit\`).
A running agent applies it on its next poll (about a second), without a restart.`

  static override examples = [
    "<%= config.bin %> agent config remove logSources '/var/log/analyzer/*.log'",
    '<%= config.bin %> agent config remove allowedTunnelPorts 5900',
    '<%= config.bin %> agent config remove diagnostics.disk-check',
    '<%= config.bin %> agent config remove proxy',
  ]

  static override enableJsonFlag = true
  static override args = {
    key: Args.string({description: 'Dotted key, e.g. logSources, backoff.capMs, diagnostics.NAME.', required: true}),
    value: Args.string({description: 'The value (JSON or text).', required: false}),
  }

  static override flags = {'data-dir': agentDataDirFlag}

  async run(): Promise<ConfigResult> {
    const {args, flags} = await this.parse(AgentConfigRemove)
    const [{editConfig}, {agentDataDir}, {renderConfigChange}] = await Promise.all([import('../../../agent/config-edit.js'), import('../../../agent/data-dir.js'), import('../../../agent/config-render.js')])
    const result = await editConfig(agentDataDir(flags['data-dir']), 'remove', args.key, args.value)
    if (!this.jsonEnabled()) this.log(renderConfigChange(result))
    return result
  }
}
