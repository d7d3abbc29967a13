import {Args} from '@oclif/core'
import type {TunnelView} from '../../protocol/api/tunnels.js'
import {TetherCommand} from '../../shared/command.js'

export default class TunnelsClose extends TetherCommand {
  static override description = 'Close a live tunnel stream at once, whichever server node carries it (yours, or any in your scope with devices:manage). Audited as closed-by-user.'
  static override examples = ['<%= config.bin %> tunnels close 3kXq9aB2cD1e']
  static override enableJsonFlag = true
  static override args = {id: Args.string({description: 'Tunnel id (tether tunnels list).', required: true})}

  async run(): Promise<TunnelView> {
    const {args} = await this.parse(TunnelsClose)
    const [{withApi}, {closeTunnel}] = await Promise.all([import('../../client/session.js'), import('../../client/tunnels-api.js')])
    const closed = await withApi((api) => closeTunnel(api, args.id))
    if (!this.jsonEnabled()) this.log(`Closed tunnel ${closed.id} (${closed.user} → ${closed.device} ${closed.target}).`)
    return closed
  }
}
