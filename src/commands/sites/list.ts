import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import {tableFlags, tableView} from '../../shared/table.js'
import type {Site} from '../../client/admin-api.js'

export interface SitesListResult {
  sites: Site[]
}

export default class SitesList extends TetherCommand {
  static override description = 'List sites, optionally of one customer.'
  static override examples = ['<%= config.bin %> sites list', '<%= config.bin %> sites list --customer st-mary --json']
  static override enableJsonFlag = true
  static override flags = {
    ...tableFlags,
    customer: Flags.string({description: 'Only sites of this customer.'}),
  }

  async run(): Promise<SitesListResult> {
    const {flags} = await this.parse(SitesList)
    const {withApi} = await import('../../client/session.js')
    const sites = await withApi((api) => api.listSites(flags.customer))
    if (!this.jsonEnabled()) {
      const {sitesTable} = await import('../../client/render.js')
      this.log(sites.length ? sitesTable(sites, tableView(flags)) : 'No sites.')
    }
    return {sites}
  }
}
