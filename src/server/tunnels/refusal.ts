import type {TunnelLayer} from '../../protocol/api/tunnels.js'
import {ProtocolErrorCodes, type ResponseError} from '../../protocol/agent/messages.js'
import {errorCodeEntry} from '../../shared/errors.js'

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

/** The agent's refusal codes and the layer each names; the HTTP status is the code's in ERROR_CODES. */
const DEVICE_REFUSAL_LAYERS: Record<string, TunnelLayer> = {
  [ProtocolErrorCodes.refusedByDevice]: 'device',
  [ProtocolErrorCodes.portNotAllowed]: 'device',
  [ProtocolErrorCodes.targetNotAllowed]: 'device',
  [ProtocolErrorCodes.approvalRequired]: 'device',
  [ProtocolErrorCodes.targetRefused]: 'target',
  [ProtocolErrorCodes.dataLegFailed]: 'network',
}

export function refusalFromDevice(error: ResponseError | undefined): TunnelRefusal {
  const layer = error ? DEVICE_REFUSAL_LAYERS[error.code] : undefined
  const status = error ? errorCodeEntry(error.code)?.status : undefined
  if (!error || !layer || status === undefined) return new TunnelRefusal(502, error?.code ?? 'DEVICE_ERROR', 'device', `the device could not open the stream: ${error?.message ?? 'no reason given'}`)
  return new TunnelRefusal(status, error.code, layer, `refused by the device: ${error.message}`)
}
