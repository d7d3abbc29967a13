import {Args} from '@oclif/core'
import type {Deployment, DeploymentDetail} from '../../client/deployments-api.js'
import {TetherCommand} from '../../shared/command.js'

export default class UpdatesStatus extends TetherCommand {
  static override description = `Show a deployment per stage and per device, or list the deployments.

Each device's step: not-started, queued, waiting-for-window, waiting-for-approval, downloading N%, verifying, installing, health-check, succeeded, failed at which step and why, rolled back, skipped (already newer), cancelled. Needs devices:read; only deployments in your scope.`
  static override examples = ['<%= config.bin %> updates status', '<%= config.bin %> updates status d-3f1c2a9b07e1', '<%= config.bin %> updates status d-3f1c2a9b07e1 --json | jq \'.devices[] | select(.state=="failed")\'']
  static override enableJsonFlag = true
  static override args = {deployment: Args.string({description: 'Deployment id (omit to list deployments).'})}

  async run(): Promise<DeploymentDetail | {deployments: Deployment[]}> {
    const {args} = await this.parse(UpdatesStatus)
    const {deploymentText, deploymentsTable, withDeploymentsApi} = await import('../../client/deployments-cli.js')
    if (args.deployment === undefined) {
      const deployments = await withDeploymentsApi((api) => api.list())
      if (!this.jsonEnabled()) this.log(deployments.length === 0 ? 'No deployments.' : deploymentsTable(deployments))
      return {deployments}
    }
    const id = args.deployment
    const deployment = await withDeploymentsApi((api) => api.get(id))
    if (!this.jsonEnabled()) this.log(deploymentText(deployment))
    return deployment
  }
}
