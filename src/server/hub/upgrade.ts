import type {IncomingMessage} from 'node:http'
import {STATUS_CODES} from 'node:http'
import type {Duplex} from 'node:stream'

/** The agent's WebSocket upgrade uses the shared device check (auth/device-cert.ts). */
export {authenticateDevice as authenticateUpgrade, type DeviceVerdict as UpgradeVerdict} from '../auth/device-cert.js'

/** Answers a refused upgrade with a plain HTTP response (the agent reads the status and body). */
export function rejectUpgrade(socket: Duplex, status: number, code: string, message: string, extra: Record<string, string> = {}): void {
  const body = JSON.stringify({error: {code, message, ...extra}})
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
  ]
  // Whatever the client still sends is read and dropped, so its FIN is seen and the socket closes.
  socket.resume()
  if (socket.writable) socket.end(`${head.join('\r\n')}\r\n\r\n${body}`)
  else socket.destroy()
}

export function upgradePath(request: IncomingMessage): string {
  const url = request.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}
