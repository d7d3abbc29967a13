import {Args} from '@oclif/core'
import type {DeploymentDetail} from '../../client/deployments-api.js'
import {TetherCommand} from '../../shared/command.js'

export default class UpdatesResume extends TetherCommand {
  static override description = `Resume a paused deployment: the next stage starts if the current one is done and its wait passed.

Needs updates:deploy. A deployment that cannot make this move (e.g. already aborted or completed): exit 6.`
  static override examples = ['<%= config.bin %> updates resume d-3f1c2a9b07e1']
  static override enableJsonFlag = true
  static override args = {deployment: Args.string({description: 'Deployment id.', required: true})}

  async run(): Promise<DeploymentDetail> {
    const {args} = await this.parse(UpdatesResume)
    const {withDeploymentsApi} = await import('../../client/deployments-cli.js')
    const deployment = await withDeploymentsApi((api) => api.move(args.deployment, 'resume'))
    if (!this.jsonEnabled()) this.log(`Resumed deployment ${deployment.id} (${deployment.status}, stage ${deployment.currentStage + 1} of ${deployment.stages.length}).`)
    return deployment
  }
}
