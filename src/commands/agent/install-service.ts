import {Flags} from '@oclif/core'
import {agentDataDirFlag} from '../../agent/cli-flags.js'
import type {InstallServiceResult} from '../../agent/install-service.js'
import {TetherCommand} from '../../shared/command.js'

export default class AgentInstallService extends TetherCommand {
  static override description = `Write a systemd unit for the device agent and print how to enable it.

The unit restarts the agent forever (Restart=always) and confines it: NoNewPrivileges, ProtectSystem=strict, ProtectHome, PrivateTmp, write access to the data dir only, no capabilities. Default output: /etc/systemd/system/tether-agent.service; use --output - to print it.`

  static override examples = [
    'sudo <%= config.bin %> agent install-service --data-dir /var/lib/tether-agent --user tether-agent',
    '<%= config.bin %> agent install-service --output - --data-dir /var/lib/tether-agent',
    '<%= config.bin %> agent install-service --output ./tether-agent.service',
  ]

  static override enableJsonFlag = true
  static override flags = {
    'data-dir': agentDataDirFlag,
    user: Flags.string({description: 'System user the agent runs as (owns the data dir). Default: tether-agent.', default: 'tether-agent', helpValue: 'USER'}),
    output: Flags.string({description: 'Where to write the unit; "-" prints it.', default: '/etc/systemd/system/tether-agent.service', helpValue: 'FILE'}),
  }

  async run(): Promise<InstallServiceResult> {
    const {flags} = await this.parse(AgentInstallService)
    const {installService} = await import('../../agent/install-service.js')
    const result = await installService({dataDir: flags['data-dir'], user: flags.user, output: flags.output, binPath: process.argv[1]})
    if (!this.jsonEnabled()) {
      if (flags.output === '-') this.log(result.unit)
      else {
        this.log(`Wrote ${result.path}\n\nTo enable it:`)
        for (const step of result.nextSteps) this.log(`  ${step}`)
      }
    }
    return result
  }
}
