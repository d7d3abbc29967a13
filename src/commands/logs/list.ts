import {Flags} from '@oclif/core'
import type {LogBundle} from '../../client/jobs-api.js'
import {TetherCommand} from '../../shared/command.js'
import {tableFlags, tableView} from '../../shared/table.js'

export interface LogsListResult {
  bundles: LogBundle[]
}

export default class LogsList extends TetherCommand {
  static override description = 'List stored log bundles of the devices in your scope, newest first (needs logs:pull).'
  static override examples = ['<%= config.bin %> logs list', '<%= config.bin %> logs list --device SN-1234 --json | jq -r ".bundles[0].id"']
  static override enableJsonFlag = true
  static override flags = {
    ...tableFlags,
    device: Flags.string({description: 'Only bundles of this device serial.'}),
    limit: Flags.integer({description: 'At most this many bundles.', default: 100, min: 1, max: 1000}),
  }

  async run(): Promise<LogsListResult> {
    const {flags} = await this.parse(LogsList)
    const {withJobsApi, bundlesTable} = await import('../../client/jobs-cli.js')
    const bundles = await withJobsApi((api) => api.listBundles({device: flags.device, limit: flags.limit}))
    if (!this.jsonEnabled()) this.log(bundles.length ? bundlesTable(bundles, tableView(flags)) : 'No log bundles.')
    return {bundles}
  }
}
