import tls from 'node:tls'
import {TUNNEL_UPGRADE_PROTOCOL, tunnelConnectPath} from '../../../src/protocol/agent/tunnels.js'
import {UpgradeRefusedError, upgradeSocket} from '../../../src/shared/upgrade-client.js'

/** The engineer's leg by hand: the refusal as {status, code, layer, message}, or status 101 and the socket. */
export async function dialTunnel(
  url: string,
  caPem: string,
  serial: string,
  query: string,
  token: string,
): Promise<{status: number; code?: string; layer?: string | null; message: string; socket?: tls.TLSSocket}> {
  const server = new URL(url)
  const socket = tls.connect({host: server.hostname, port: Number(server.port), ca: caPem, servername: 'localhost'})
  await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject))
  try {
    await upgradeSocket(socket, {host: server.host, path: `${tunnelConnectPath(serial)}?${query}`, protocol: TUNNEL_UPGRADE_PROTOCOL, headers: {authorization: `Bearer ${token}`}, timeoutMs: 10_000})
    return {status: 101, message: 'switched', socket}
  } catch (error) {
    if (!(error instanceof UpgradeRefusedError)) throw error
    return {status: error.status, code: error.code, layer: error.layer, message: error.message}
  }
}
