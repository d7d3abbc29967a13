import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import {tableFlags, tableView} from '../../shared/table.js'
import type {ApiToken} from '../../client/admin-api.js'

export interface TokensListResult {
  tokens: ApiToken[]
}

export default class TokensList extends TetherCommand {
  static override description = "List your API tokens, or another user's with --user (users:manage)."
  static override examples = ['<%= config.bin %> tokens list', '<%= config.bin %> tokens list --user alice --json']
  static override enableJsonFlag = true
  static override flags = {
    ...tableFlags,
    user: Flags.string({description: "Another user's tokens (users:manage)."}),
  }

  async run(): Promise<TokensListResult> {
    const {flags} = await this.parse(TokensList)
    const {withApi} = await import('../../client/session.js')
    const tokens = await withApi((api) => api.listTokens(flags.user))
    if (!this.jsonEnabled()) {
      const {tokensTable} = await import('../../client/render.js')
      this.log(tokens.length ? tokensTable(tokens, tableView(flags)) : 'No tokens.')
    }
    return {tokens}
  }
}
