import {Args} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {User} from '../../client/admin-api.js'

export default class UsersShow extends TetherCommand {
  static override description = 'Show one user.'
  static override examples = ['<%= config.bin %> users show alice', '<%= config.bin %> users show alice --json']
  static override enableJsonFlag = true
  static override args = {username: Args.string({description: 'Username.', required: true})}

  async run(): Promise<User> {
    const {args} = await this.parse(UsersShow)
    const {withApi} = await import('../../client/session.js')
    const user = await withApi((api) => api.getUser(args.username))
    if (!this.jsonEnabled()) {
      const {userFields} = await import('../../client/render.js')
      this.log(userFields(user))
    }
    return user
  }
}
