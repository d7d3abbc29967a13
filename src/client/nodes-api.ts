import {NodeList} from '../protocol/api/nodes.js'

/** GET /nodes on the active session (TETHER_TOKEN works as everywhere). */
export async function listNodes(): Promise<NodeList> {
  const {withApi} = await import('./session.js')
  return withApi((admin) => admin.client.call('GET', '/nodes', {response: NodeList}))
}
