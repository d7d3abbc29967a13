import {hostname} from 'node:os'
import {join} from 'node:path'
import type {ServerConfig} from './config.js'

/** Settings of a data dir nobody has configured: `tether server start` with no flags. */
export function defaultServerConfig(dataDir: string): ServerConfig {
  return {
    dataDir,
    host: '0.0.0.0',
    port: 8443,
    hostnames: ['localhost'],
    database: join(dataDir, 'tether.db'),
    tls: {certFile: join(dataDir, 'tls', 'server.crt'), keyFile: join(dataDir, 'tls', 'server.key'), caFile: join(dataDir, 'tls', 'ca.crt')},
    deviceCa: {certFile: join(dataDir, 'device-ca', 'ca.crt'), keyFile: join(dataDir, 'device-ca', 'ca.key')},
    auth: {
      jwtSecretFile: join(dataDir, 'secrets', 'jwt.key'),
      mfaKeyFile: join(dataDir, 'secrets', 'mfa.key'),
      accessTokenTtlSeconds: 300,
      refreshTokenTtlSeconds: 12 * 3600,
      mfaForReadOnlyRoles: false,
      lockoutThreshold: 5,
      lockoutSeconds: 900,
    },
    limits: {
      rateLimitPerMinute: 300,
      bodyLimitBytes: 1024 * 1024,
      // One node holds 10,000 agents (bench/agent-fanin) plus admin and upload connections.
      maxConnections: 20_000,
      // Enough to keep both cores busy with handshakes; beyond it they queue instead of all slowing down.
      maxConcurrentHandshakes: 256,
      listenBacklog: 4096,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
    },
    trustProxy: [],
    proxyProtocolFrom: [],
    agents: {heartbeatIntervalMs: 25_000, heartbeatTimeoutMs: 60_000, requestTimeoutMs: 10_000},
    tunnels: {idleTimeoutSeconds: 1800, setupTimeoutMs: 5000},
    deployments: {tickSeconds: 30},
    logs: {storageDir: join(dataDir, 'logs'), region: 'default', retentionDays: 90, masterKeyFile: join(dataDir, 'secrets', 'logs-master.key')},
    storage: {blobs: 'local'},
    audit: {checkpointKeyFile: join(dataDir, 'secrets', 'audit-checkpoint.key'), checkpointIntervalSeconds: 300},
    cluster: {nodeId: hostname(), peerAddress: null},
    updates: {
      storageDir: join(dataDir, 'updates'),
      snapshotKeyFile: join(dataDir, 'secrets', 'updates-snapshot.key'),
      timestampKeyFile: join(dataDir, 'secrets', 'updates-timestamp.key'),
      timestampExpirySeconds: 86_400,
      snapshotExpirySeconds: 7 * 86_400,
      refreshIntervalSeconds: 600,
    },
  }
}
