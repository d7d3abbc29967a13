import {Args} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'

export interface TokensRevokeResult {
  id: string
  revoked: true
}

export default class TokensRevoke extends TetherCommand {
  static override description = 'Revoke an API token; it stops working at once.'
  static override examples = ['<%= config.bin %> tokens revoke 01J9Z4K8W2']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Token ID (see `tokens list`).', required: true})}

  async run(): Promise<TokensRevokeResult> {
    const {args} = await this.parse(TokensRevoke)
    const {withApi} = await import('../../client/session.js')
    await withApi((api) => api.revokeToken(args.id))
    if (!this.jsonEnabled()) this.log(`Token ${args.id} revoked.`)
    return {id: args.id, revoked: true}
  }
}
