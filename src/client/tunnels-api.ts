import {TunnelList, TunnelView} from '../protocol/api/tunnels.js'
import type {AdminApi} from './admin-api.js'

/** GET /tunnels and DELETE /tunnels/:id (kept beside AdminApi, same ApiClient). */
export function listTunnels(api: AdminApi, device?: string): Promise<TunnelList> {
  return api.client.call('GET', '/tunnels', {query: {device}, response: TunnelList})
}

export function closeTunnel(api: AdminApi, id: string): Promise<TunnelView> {
  return api.client.call('DELETE', `/tunnels/${encodeURIComponent(id)}`, {response: TunnelView})
}
