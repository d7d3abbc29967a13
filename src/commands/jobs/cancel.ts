import {Args} from '@oclif/core'
import type {Job} from '../../client/jobs-api.js'
import {TetherCommand} from '../../shared/command.js'

export default class JobsCancel extends TetherCommand {
  static override description = `Cancel a job that has not finished.

A queued job is never sent. A job already on the device is marked cancelled here and its later results are ignored (the device is not interrupted). Needs the permission that could start it (diagnostics:run or logs:pull). A job that already finished: exit 6.`
  static override examples = ['<%= config.bin %> jobs cancel 3f1c…']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Job id.', required: true})}

  async run(): Promise<Job> {
    const {args} = await this.parse(JobsCancel)
    const {withJobsApi, jobKindLabel} = await import('../../client/jobs-cli.js')
    const job = await withJobsApi((api) => api.cancelJob(args.id))
    if (!this.jsonEnabled()) this.log(`Cancelled job ${job.id} (${jobKindLabel(job.kind)} on ${job.serial}).`)
    return job
  }
}
