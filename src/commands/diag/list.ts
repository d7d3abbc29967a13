import {Args} from '@oclif/core'
import type {DiagnosticCatalogue} from '../../protocol/api/jobs.js'
import {TetherCommand} from '../../shared/command.js'

export default class DiagList extends TetherCommand {
  static override description = `List the diagnostics a device offers (its catalogue: built-ins plus the scripts declared in its agent.json).

The catalogue is the one the agent reported when it last connected. Only these names can be run; there is no remote shell.`
  static override examples = ['<%= config.bin %> diag list SN-1234', '<%= config.bin %> diag list SN-1234 --json | jq -r ".diagnostics[]"']
  static override enableJsonFlag = true
  static override args = {serial: Args.string({description: 'Device serial.', required: true})}

  async run(): Promise<DiagnosticCatalogue> {
    const {args} = await this.parse(DiagList)
    const {withJobsApi} = await import('../../client/jobs-cli.js')
    const catalogue = await withJobsApi((api) => api.catalogue(args.serial))
    if (!this.jsonEnabled()) {
      if (catalogue.diagnostics === null) this.log(`${args.serial} has not reported a diagnostics catalogue yet (never connected, or an older agent).`)
      else this.log(catalogue.diagnostics.join('\n'))
      if (!catalogue.online) this.logToStderr(`${args.serial} is offline: diagnostics run when it next connects.`)
    }
    return catalogue
  }
}
