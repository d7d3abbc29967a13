import type {TLSSocket} from 'node:tls'
import {TUNNEL_TICKET_HEADER, TUNNEL_UPGRADE_PROTOCOL, tunnelDataPath} from '../../protocol/agent/index.js'
import {upgradeSocket} from '../../shared/upgrade-client.js'

/** Dials one stream's data connection; the agent injects it (tests substitute their own). */
export type DataLegDialer = (streamId: string, ticket: string) => Promise<TLSSocket>

/**
 * A data leg: a new mTLS connection to the server by the control channel's route (direct or
 * through the site's proxy), upgraded with the stream's single-use ticket. After the 101 it
 * carries the stream's raw bytes.
 */
export function dataLegDialer(server: () => URL, connectTls: () => Promise<TLSSocket>, timeoutMs: number): DataLegDialer {
  return async (streamId, ticket) => {
    const socket = await connectTls()
    await upgradeSocket(socket, {host: server().host, path: tunnelDataPath(streamId), protocol: TUNNEL_UPGRADE_PROTOCOL, headers: {[TUNNEL_TICKET_HEADER]: ticket}, timeoutMs})
    return socket
  }
}
