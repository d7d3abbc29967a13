import {Args} from '@oclif/core'
import {agentDataDirFlag} from '../../../agent/cli-flags.js'
import type {ConfigResult} from '../../../agent/config-edit.js'
import {TetherCommand} from '../../../shared/command.js'

export default class AgentConfigSet extends TetherCommand {
  static override summary = "Set one agent setting (dotted KEY) to VALUE, checked against the agent's schema."
  static override description = `VALUE is JSON when it parses as JSON (numbers, lists, objects, null), else text. The new agent.json is checked with the schema the agent reads it with (a refusal names the key and what is allowed), written atomically and recorded in the local audit (\`tether agent audit\`).
A running agent applies it on its next poll (about a second), without a restart.`

  static override examples = [
    '<%= config.bin %> agent config set proxy http://proxy.hospital.local:3128',
    '<%= config.bin %> agent config set jobs.concurrency 4',
    `<%= config.bin %> agent config set diagnostics.disk-check '{"command": ["/usr/bin/df", "-h"], "timeoutSeconds": 10}'`,
    `<%= config.bin %> agent config set acceptedJobKinds '["diagnostics"]' --json`,
  ]

  static override enableJsonFlag = true
  static override args = {
    key: Args.string({description: 'Dotted key, e.g. logSources, backoff.capMs, diagnostics.NAME.', required: true}),
    value: Args.string({description: 'The value (JSON or text).', required: true}),
  }

  static override flags = {'data-dir': agentDataDirFlag}

  async run(): Promise<ConfigResult> {
    const {args, flags} = await this.parse(AgentConfigSet)
    const [{editConfig}, {agentDataDir}, {renderConfigChange}] = await Promise.all([import('../../../agent/config-edit.js'), import('../../../agent/data-dir.js'), import('../../../agent/config-render.js')])
    const result = await editConfig(agentDataDir(flags['data-dir']), 'set', args.key, args.value)
    if (!this.jsonEnabled()) this.log(renderConfigChange(result))
    return result
  }
}
