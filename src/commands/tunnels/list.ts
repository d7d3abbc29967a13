import {Flags} from '@oclif/core'
import type {TunnelList} from '../../protocol/api/tunnels.js'
import {TetherCommand} from '../../shared/command.js'
import {tableFlags, tableView} from '../../shared/table.js'

export default class TunnelsList extends TetherCommand {
  static override description = 'List live tunnel streams of the devices in your scope, on every server node: who, to what, why, since when, bytes each way, which node carries it.'
  static override examples = ['<%= config.bin %> tunnels list', '<%= config.bin %> tunnels list --device SN-1234 --json | jq ".tunnels[].id"', '<%= config.bin %> tunnels list --columns id,user,device --csv']
  static override enableJsonFlag = true
  static override flags = {...tableFlags, device: Flags.string({description: 'Only streams to this device serial.'})}

  async run(): Promise<TunnelList> {
    const {flags} = await this.parse(TunnelsList)
    const [{withApi}, {listTunnels}, {tunnelsTable}] = await Promise.all([import('../../client/session.js'), import('../../client/tunnels-api.js'), import('../../client/tunnels-cli.js')])
    const list = await withApi((api) => listTunnels(api, flags.device))
    if (!this.jsonEnabled()) this.log(list.tunnels.length > 0 ? tunnelsTable(list.tunnels, tableView(flags)) : 'No live tunnels.')
    return list
  }
}
