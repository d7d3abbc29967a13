import {DeviceAgent} from '../../../src/agent/agent.js'
import {systemClock} from '../../../src/agent/clock.js'
import {AgentConfig, agentFiles} from '../../../src/agent/data-dir.js'
import {TlsWebSocketDialer} from '../../../src/agent/transport.js'
import type {FakeControlServer} from './fake-control-server.js'

type AgentLog = ConstructorParameters<typeof DeviceAgent>[0]['log']

export const quietLog: AgentLog = {info: () => undefined, warn: () => undefined, error: () => undefined}

/** The agent config every scripted suite starts from: the fake server, and backoff short enough for tests. */
export function scriptedConfig(server: FakeControlServer, overrides: Partial<AgentConfig> = {}): AgentConfig {
  return AgentConfig.parse({version: 1, server: server.url.origin, serial: 'SN-FAKE', backoff: {baseMs: 50, capMs: 200, stableAfterMs: 60_000, revokedRetryMs: 600_000}, pollMs: 100, ...overrides})
}

/**
 * A real DeviceAgent in `dir` against the fake control server, over its real mTLS WebSocket,
 * running until stopped (the caller awaits `running` after agent.stop()).
 */
export function runScriptedAgent(
  server: FakeControlServer,
  dir: string,
  options: {config?: AgentConfig; log?: AgentLog; serverCa?: string} = {},
): {agent: DeviceAgent; running: Promise<void>} {
  const dialer = new TlsWebSocketDialer({server: server.url, key: server.deviceCert.key, cert: server.deviceCert.cert, serverCa: options.serverCa ?? server.ca.cert, timeoutMs: 3000})
  const agent = new DeviceAgent({config: options.config ?? scriptedConfig(server), files: agentFiles(dir), dialer, clock: systemClock, log: options.log ?? quietLog, agentVersion: '9.9.9', proxyDisplay: null})
  return {agent, running: agent.run()}
}
