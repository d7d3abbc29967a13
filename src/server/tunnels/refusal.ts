import type {TunnelLayer} from '../../protocol/api/tunnels.js'
import {ProtocolErrorCodes, type ResponseError} from '../../protocol/agent/messages.js'

/** A stream that could not be set up: the HTTP answer to the engineer's leg, and what the audit says. */
export class TunnelRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly layer: TunnelLayer,
    message: string,
  ) {
    super(message)
  }
}

/** The agent's refusal codes: which layer refused, and the HTTP status the engineer gets. */
const DEVICE_REFUSALS: Record<string, {status: number; layer: TunnelLayer}> = {
  [ProtocolErrorCodes.refusedByDevice]: {status: 403, layer: 'device'},
  [ProtocolErrorCodes.portNotAllowed]: {status: 403, layer: 'device'},
  [ProtocolErrorCodes.targetNotAllowed]: {status: 403, layer: 'device'},
  [ProtocolErrorCodes.approvalRequired]: {status: 403, layer: 'device'},
  [ProtocolErrorCodes.targetRefused]: {status: 502, layer: 'target'},
  [ProtocolErrorCodes.dataLegFailed]: {status: 502, layer: 'network'},
}

export function refusalFromDevice(error: ResponseError | undefined): TunnelRefusal {
  const known = error ? DEVICE_REFUSALS[error.code] : undefined
  if (!error || !known) return new TunnelRefusal(502, error?.code ?? 'DEVICE_ERROR', 'device', `the device could not open the stream: ${error?.message ?? 'no reason given'}`)
  return new TunnelRefusal(known.status, error.code, known.layer, `refused by the device: ${error.message}`)
}
