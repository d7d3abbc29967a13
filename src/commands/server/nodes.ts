import {TetherCommand} from '../../shared/command.js'
import {tableFlags, tableView} from '../../shared/table.js'
import type {NodeList} from '../../protocol/api/nodes.js'

export type ServerNodesResult = NodeList

export default class ServerNodes extends TetherCommand {
  static override description = `List the live server nodes sharing this service's database: their peer address, connected agents, load and the age of their last heartbeat.

A node is live while its lease (one agent heartbeat timeout) runs; a node that stopped or died drops off the list by itself. Needs devices:manage. The node that answered is marked with *.`
  static override examples = ['<%= config.bin %> server nodes', '<%= config.bin %> server nodes --json']
  static override enableJsonFlag = true
  static override flags = {...tableFlags}

  async run(): Promise<ServerNodesResult> {
    const {flags} = await this.parse(ServerNodes)
    const {listNodes} = await import('../../client/nodes-api.js')
    const result = await listNodes()
    if (!this.jsonEnabled()) {
      const {nodesTable} = await import('../../client/render.js')
      this.log(result.nodes.length ? nodesTable(result.nodes, tableView(flags)) : 'No live nodes.')
    }
    return result
  }
}
