import type {TLSSocket} from 'node:tls'
import {isNodeLabel, nodeServerName, TUNNEL_TICKET_HEADER, TUNNEL_UPGRADE_PROTOCOL, tunnelDataPath} from '../../protocol/agent/index.js'
import {upgradeSocket} from '../../shared/upgrade-client.js'

/** Dials one stream's data connection; the agent injects it (tests substitute their own). */
export type DataLegDialer = (streamId: string, ticket: string, node?: string) => Promise<TLSSocket>

/**
 * A data leg: a new mTLS connection to the server by the control channel's route (direct or
 * through the site's proxy), upgraded with the stream's single-use ticket. After the 101 it
 * carries the stream's raw bytes. When the server names the node that owns the stream, the TLS
 * server name names it too (nodeServerName), so a balancer in front of several nodes can send
 * the leg straight there instead of to a node that would forward it (one hop less); a name that
 * cannot be a server name is ignored and the leg is dialled as the control channel is.
 */
export function dataLegDialer(server: () => URL, connectTls: (options?: {servername?: string}) => Promise<TLSSocket>, timeoutMs: number): DataLegDialer {
  return async (streamId, ticket, node) => {
    const socket = await connectTls(node && isNodeLabel(node) ? {servername: nodeServerName(node)} : {})
    await upgradeSocket(socket, {host: server().host, path: tunnelDataPath(streamId), protocol: TUNNEL_UPGRADE_PROTOCOL, headers: {[TUNNEL_TICKET_HEADER]: ticket}, timeoutMs})
    return socket
  }
}
