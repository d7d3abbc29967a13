import {TetherCommand} from '../../shared/command.js'
import {tableFlags, tableView} from '../../shared/table.js'
import type {UserListEntry} from '../../protocol/api/users.js'

export interface UsersListResult {
  /** Each user; sso is the issuer for users who sign in with SSO, null for local accounts. */
  users: UserListEntry[]
}

export default class UsersList extends TetherCommand {
  static override description = 'List users (users:manage). The Sign-in column (JSON: sso, the issuer) shows who signs in with the identity provider.'
  static override examples = ['<%= config.bin %> users list', '<%= config.bin %> users list --json', '<%= config.bin %> users list --csv > users.csv']
  static override enableJsonFlag = true
  static override flags = {...tableFlags}

  async run(): Promise<UsersListResult> {
    const {flags} = await this.parse(UsersList)
    const {withApi} = await import('../../client/session.js')
    const users = await withApi((api) => api.listUsers())
    if (!this.jsonEnabled()) {
      const {usersTable} = await import('../../client/render.js')
      this.log(users.length ? usersTable(users, tableView(flags)) : 'No users.')
    }
    return {users}
  }
}
