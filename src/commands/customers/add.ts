import {Args, Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {Customer} from '../../client/admin-api.js'

export default class CustomersAdd extends TetherCommand {
  static override description = 'Add a customer (customers:manage). The ID is a lowercase slug used in scopes and device records.'
  static override examples = ['<%= config.bin %> customers add st-mary --name "St. Mary\'s Hospital"']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Customer ID (slug), e.g. st-mary.', required: true})}
  static override flags = {name: Flags.string({description: 'Display name.', required: true})}

  async run(): Promise<Customer> {
    const {args, flags} = await this.parse(CustomersAdd)
    const {withApi} = await import('../../client/session.js')
    const customer = await withApi((api) => api.createCustomer({id: args.id, name: flags.name}))
    if (!this.jsonEnabled()) this.log(`Customer ${customer.id} (${customer.name}) added.`)
    return customer
  }
}
