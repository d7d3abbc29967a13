import {TetherCommand} from '../../shared/command.js'
import {tableFlags, tableView} from '../../shared/table.js'
import type {Customer} from '../../client/admin-api.js'

export interface CustomersListResult {
  customers: Customer[]
}

export default class CustomersList extends TetherCommand {
  static override description = 'List customers (the ones in your scope).'
  static override examples = ['<%= config.bin %> customers list', '<%= config.bin %> customers list --json', '<%= config.bin %> customers list --columns id,name']
  static override enableJsonFlag = true
  static override flags = {...tableFlags}

  async run(): Promise<CustomersListResult> {
    const {flags} = await this.parse(CustomersList)
    const {withApi} = await import('../../client/session.js')
    const customers = await withApi((api) => api.listCustomers())
    if (!this.jsonEnabled()) {
      const {customersTable} = await import('../../client/render.js')
      this.log(customers.length ? customersTable(customers, tableView(flags)) : 'No customers.')
    }
    return {customers}
  }
}
