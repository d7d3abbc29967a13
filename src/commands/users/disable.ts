import {Args} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {User} from '../../client/admin-api.js'

export default class UsersDisable extends TetherCommand {
  static override description = 'Disable a user: they cannot log in, and every session and API token of theirs stops working at once.'
  static override examples = ['<%= config.bin %> users disable alice']
  static override enableJsonFlag = true
  static override args = {username: Args.string({description: 'Username.', required: true})}

  async run(): Promise<User> {
    const {args} = await this.parse(UsersDisable)
    const {withApi} = await import('../../client/session.js')
    const user = await withApi((api) => api.setUserDisabled(args.username, true))
    if (!this.jsonEnabled()) this.log(`User ${user.username} is now ${user.disabled ? 'disabled' : 'active'}.`)
    return user
  }
}
