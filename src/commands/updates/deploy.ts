import {Flags} from '@oclif/core'
import type {DeploymentDetail} from '../../client/deployments-api.js'
import {TetherCommand} from '../../shared/command.js'

export default class UpdatesDeploy extends TetherCommand {
  static override description = `Roll a published update out to a customer's devices in stages that advance and halt on their own.

The devices are the enrolled ones of --model at --to (a customer, or CUSTOMER/SITE), with every --label, that you may see and that do not already run --version. They are split into --stages (cumulative percents; each stage gets at least one device). The next stage starts when every device of the current one reported and --stage-wait passed; the rollout halts once --halt-after devices failed (a count, or a percent of the devices given the update so far). A device with no final report within --deadline counts as failed. Devices that join the group later are added to the last stage. Needs updates:deploy. Follow it with \`tether updates status ID\`.`
  static override examples = [
    '<%= config.bin %> updates deploy --version 2.4.1 --model "Analyzer X200" --to st-mary',
    '<%= config.bin %> updates deploy --version 2.4.1 --model "Analyzer X200" --to st-mary/icu --label ward=3 --stages 10%,100% --halt-after 5% --stage-wait 2h --deadline 24h',
  ]
  static override enableJsonFlag = true
  static override flags = {
    version: Flags.string({description: 'The published version to install (semver).', required: true}),
    model: Flags.string({description: 'The device model the update is for, as published.', required: true}),
    to: Flags.string({description: 'CUSTOMER or CUSTOMER/SITE.', required: true}),
    label: Flags.string({description: 'Only devices with this label, KEY=VALUE (repeatable).', multiple: true}),
    stages: Flags.string({description: 'Cumulative percents of the devices per stage, the last 100% (default 1%,10%,50%,100%).'}),
    'halt-after': Flags.string({description: 'Halt when this many devices failed (2) or this share of those given the update (5%). Default 1.'}),
    'stage-wait': Flags.string({description: 'Wait after a stage finished before the next starts (default 24h; 0 for none).', helpValue: 'DURATION'}),
    deadline: Flags.string({description: 'A device that has not reported by then counts as failed (default 72h).', helpValue: 'DURATION'}),
  }

  async run(): Promise<DeploymentDetail> {
    const {flags} = await this.parse(UpdatesDeploy)
    const {deployBody, withDeploymentsApi} = await import('../../client/deployments-cli.js')
    const body = deployBody(flags)
    const deployment = await withDeploymentsApi((api) => api.create(body))
    if (!this.jsonEnabled()) {
      const first = deployment.stageDetails[0]
      this.log(`Deployment ${deployment.id}: ${deployment.version} to ${deployment.counts.devices} device(s) in ${deployment.stages.length} stage(s); stage 1 (${first?.counts.devices ?? 0} device(s)) started.`)
      this.log(`Follow it: tether updates status ${deployment.id}`)
    }
    return deployment
  }
}
