import {Args} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {User} from '../../client/admin-api.js'

export default class UsersEnable extends TetherCommand {
  static override description = 'Enable a disabled user again (old sessions and tokens stay revoked).'
  static override examples = ['<%= config.bin %> users enable alice']
  static override enableJsonFlag = true
  static override args = {username: Args.string({description: 'Username.', required: true})}

  async run(): Promise<User> {
    const {args} = await this.parse(UsersEnable)
    const {withApi} = await import('../../client/session.js')
    const user = await withApi((api) => api.setUserDisabled(args.username, false))
    if (!this.jsonEnabled()) this.log(`User ${user.username} is now ${user.disabled ? 'disabled' : 'active'}.`)
    return user
  }
}
