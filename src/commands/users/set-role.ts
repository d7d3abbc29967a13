import {Args, Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {User} from '../../client/admin-api.js'
import {ROLES} from '../../client/roles.js'

export default class UsersSetRole extends TetherCommand {
  static override description = "Change a user's role."
  static override examples = ['<%= config.bin %> users set-role alice --role auditor']
  static override enableJsonFlag = true
  static override args = {username: Args.string({description: 'Username.', required: true})}
  static override flags = {role: Flags.string({description: 'New role.', options: [...ROLES], required: true})}

  async run(): Promise<User> {
    const {args, flags} = await this.parse(UsersSetRole)
    const {withApi} = await import('../../client/session.js')
    const user = await withApi((api) => api.setRole(args.username, flags.role as (typeof ROLES)[number]))
    if (!this.jsonEnabled()) this.log(`User ${user.username} now has the role ${user.role}.`)
    return user
  }
}
