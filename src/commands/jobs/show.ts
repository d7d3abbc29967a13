import {Args} from '@oclif/core'
import type {Job} from '../../client/jobs-api.js'
import {TetherCommand} from '../../shared/command.js'

export default class JobsShow extends TetherCommand {
  static override description = 'Show one job with its status, progress and result.'
  static override examples = ['<%= config.bin %> jobs show 3f1c…', '<%= config.bin %> jobs show 3f1c… --json | jq .result']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Job id.', required: true})}

  async run(): Promise<Job> {
    const {args} = await this.parse(JobsShow)
    const {withJobsApi, jobFields} = await import('../../client/jobs-cli.js')
    const job = await withJobsApi((api) => api.getJob(args.id))
    if (!this.jsonEnabled()) {
      this.log(jobFields(job))
      if (job.result !== null) this.log(`\nResult:\n${JSON.stringify(job.result, null, 2)}`)
    }
    return job
  }
}
