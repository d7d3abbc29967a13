import {Args, Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {User} from '../../client/admin-api.js'

export default class UsersSetScope extends TetherCommand {
  static override description = 'Set which customers (or single sites) a user may see and act on.'
  static override examples = [
    '<%= config.bin %> users set-scope alice --customer st-mary --customer acme/lab-2',
    '<%= config.bin %> users set-scope bob --all',
  ]
  static override enableJsonFlag = true
  static override args = {username: Args.string({description: 'Username.', required: true})}
  static override flags = {
    customer: Flags.string({description: 'CUSTOMER or CUSTOMER/SITE (repeatable).', multiple: true, exclusive: ['all']}),
    all: Flags.boolean({description: 'Every customer.', exclusive: ['customer']}),
  }

  async run(): Promise<User> {
    const {args, flags} = await this.parse(UsersSetScope)
    const {parseScope, scopeText} = await import('../../client/cli-input.js')
    const {UsageError} = await import('../../shared/errors.js')
    if (!flags.all && !flags.customer?.length) throw new UsageError('pass --customer CUSTOMER[/SITE] (repeatable) or --all')
    const scope = parseScope(flags.customer, flags.all)
    const {withApi} = await import('../../client/session.js')
    const user = await withApi((api) => api.setScope(args.username, scope))
    if (!this.jsonEnabled()) this.log(`User ${user.username} now sees: ${scopeText(user.scope)}.`)
    return user
  }
}
