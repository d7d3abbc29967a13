import {DEVICE_LOOPBACK, formatTarget, ProtocolErrorCodes, type AccessMode, type TunnelOpenParams} from '../../protocol/agent/index.js'
import type {AgentConfig} from '../data-dir.js'

export type TunnelDecision = {allowed: true} | {allowed: false; code: string; message: string}

/** Names of the device's own loopback: a target there is a port of the device itself. */
const LOOPBACK = new Set([DEVICE_LOOPBACK, 'localhost', '::1'])

export function isDeviceLoopback(host: string): boolean {
  return LOOPBACK.has(host.toLowerCase())
}

/**
 * The device's verdict on a stream, in the order a person at the device would reason: is
 * remote access allowed at all (access mode), may this target be reached (allowlist), and in
 * approval-required mode, has someone here approved this engineer for this port. The server
 * can ask for anything; only what passes here is connected. `grant` is looked up only when
 * the mode needs it.
 */
export async function decideTunnel(
  params: Pick<TunnelOpenParams, 'target' | 'user'>,
  mode: AccessMode,
  config: Pick<AgentConfig, 'allowedTunnelPorts' | 'allowedTunnelTargets'>,
  grant: (user: string, port: number) => Promise<unknown>,
): Promise<TunnelDecision> {
  const {target} = params
  if (mode.mode === 'no-access') return {allowed: false, code: ProtocolErrorCodes.refusedByDevice, message: 'the device is in no-access mode'}
  if (isDeviceLoopback(target.host)) {
    if (!config.allowedTunnelPorts.includes(target.port)) {
      const allowed = config.allowedTunnelPorts.length > 0 ? config.allowedTunnelPorts.join(', ') : 'none'
      return {allowed: false, code: ProtocolErrorCodes.portNotAllowed, message: `port ${target.port} is not in this device's allowed tunnel ports (${allowed})`}
    }
  } else if (!config.allowedTunnelTargets.includes(formatTarget(target))) {
    return {allowed: false, code: ProtocolErrorCodes.targetNotAllowed, message: `${formatTarget(target)} is not in this device's allowed tunnel targets`}
  }
  if ((mode.mode as string) === 'approval-required' && !(await grant(params.user, target.port))) {
    return {allowed: false, code: ProtocolErrorCodes.approvalRequired, message: `the device requires approval and ${params.user} has none for port ${target.port} now (ask with \`tether access request\`)`}
  }
  return {allowed: true}
}
