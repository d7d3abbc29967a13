import type {IncomingMessage} from 'node:http'
import type {Duplex} from 'node:stream'
import {nodePeerOf} from './node-cert.js'

/** Headers one node adds when it forwards a leg to another (lower case, as Node reads them). */
export const FORWARDING_HEADERS = {
  /** The forwarding node's id. */
  by: 'x-tether-forwarded-by',
  /** The address the leg came from, for the audit on the owning node. */
  for: 'x-tether-forwarded-for',
  /** A device data leg: the serial whose certificate the forwarding node verified. */
  device: 'x-tether-device',
} as const

/** A leg another node forwarded here. */
export interface ForwardedLeg {
  byNode: string
  clientAddress: string | null
  device: string | null
}

export type ForwardingVerdict = {ok: true; forwarded: ForwardedLeg | null} | {ok: false; message: string}

/**
 * Whether this upgrade request was forwarded by another node, and may be believed. The headers
 * assert things only a node can know (the device a certificate proved, the client's address), so
 * they are accepted only on a connection that presented a node certificate; anyone else sending
 * any of them is refused outright rather than having them ignored.
 */
export function readForwarding(request: IncomingMessage, socket: Duplex, caFingerprint: string | undefined): ForwardingVerdict {
  const value = (name: string): string | null => {
    const v = request.headers[name]
    return typeof v === 'string' && v !== '' ? v : null
  }
  const claimed = Object.values(FORWARDING_HEADERS).some((name) => request.headers[name] !== undefined)
  if (!claimed) return {ok: true, forwarded: null}
  const node = nodePeerOf(socket, caFingerprint)
  if (!node) return {ok: false, message: 'forwarding headers are accepted only from another node of this cluster (a node certificate)'}
  const byNode = value(FORWARDING_HEADERS.by)
  if (!byNode) return {ok: false, message: `a forwarded leg must name its node (${FORWARDING_HEADERS.by})`}
  return {ok: true, forwarded: {byNode, clientAddress: value(FORWARDING_HEADERS.for), device: value(FORWARDING_HEADERS.device)}}
}
