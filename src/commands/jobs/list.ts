import {Flags} from '@oclif/core'
import {JOB_KIND_LABELS} from '../../protocol/agent/jobs.js'
import type {Job} from '../../client/jobs-api.js'
import {TetherCommand} from '../../shared/command.js'
import {tableFlags, tableView} from '../../shared/table.js'

export interface JobsListResult {
  jobs: Job[]
}

export default class JobsList extends TetherCommand {
  static override description = 'List jobs (diagnostics, log collections) of the devices in your scope, newest first.'
  static override examples = [
    '<%= config.bin %> jobs list',
    '<%= config.bin %> jobs list --device SN-1234 --status running',
    '<%= config.bin %> jobs list --kind logs --json | jq ".jobs[].id"',
    '<%= config.bin %> jobs list --columns id,device,status --no-header',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...tableFlags,
    device: Flags.string({description: 'Only jobs of this device serial.'}),
    status: Flags.string({description: 'Only jobs with this status.', options: ['queued', 'sent', 'running', 'succeeded', 'failed', 'refused', 'expired', 'cancelled']}),
    kind: Flags.string({description: 'Only this kind of job.', options: JOB_KIND_LABELS}),
    limit: Flags.integer({description: 'At most this many jobs.', default: 100, min: 1, max: 1000}),
  }

  async run(): Promise<JobsListResult> {
    const {flags} = await this.parse(JobsList)
    const {withJobsApi, jobsTable, jobKindOf} = await import('../../client/jobs-cli.js')
    const jobs = await withJobsApi((api) =>
      api.listJobs({device: flags.device, status: flags.status as Job['status'] | undefined, kind: flags.kind === undefined ? undefined : jobKindOf(flags.kind), limit: flags.limit}),
    )
    if (!this.jsonEnabled()) this.log(jobs.length ? jobsTable(jobs, tableView(flags)) : 'No jobs.')
    return {jobs}
  }
}
