import {Args, Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {Site} from '../../client/admin-api.js'

export default class SitesAdd extends TetherCommand {
  static override description = 'Add a site of a customer (customers:manage). Site IDs are global slugs, e.g. st-mary-icu.'
  static override examples = ['<%= config.bin %> sites add st-mary-icu --customer st-mary --name "ICU, building C"']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Site ID (slug).', required: true})}
  static override flags = {
    customer: Flags.string({description: 'Customer ID.', required: true}),
    name: Flags.string({description: 'Display name.', required: true}),
  }

  async run(): Promise<Site> {
    const {args, flags} = await this.parse(SitesAdd)
    const {withApi} = await import('../../client/session.js')
    const site = await withApi((api) => api.createSite({id: args.id, customer: flags.customer, name: flags.name}))
    if (!this.jsonEnabled()) this.log(`Site ${site.id} (${site.name}) added to ${site.customer}.`)
    return site
  }
}
