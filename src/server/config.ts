import type {BlobBackend} from './blobs/blob-store.js'

/**
 * The server's settings, from DATA_DIR/config.json written by `tether server init`, then
 * overridden by flags. Everything has a default so `tether server start` needs no flags.
 */
export interface ServerConfig {
  dataDir: string
  /** Listen address, default 0.0.0.0:8443. */
  host: string
  port: number
  /** Names in the server certificate. */
  hostnames: string[]
  /** postgres://… or a SQLite path; default DATA_DIR/tether.db */
  database: string
  tls: {certFile: string; keyFile: string; caFile: string}
  /** The device CA (signs agent certificates; used from the agent issue on). */
  deviceCa: {certFile: string; keyFile: string}
  auth: {
    /** HS256 secret file for access tokens (0600), shared by every node behind a load balancer. */
    jwtSecretFile: string
    /** AES-256 key file (0600) sealing TOTP secrets in the database; same on every node. */
    mfaKeyFile: string
    accessTokenTtlSeconds: number
    refreshTokenTtlSeconds: number
    /** MFA for auditors/viewers too (roles that reach devices always need it). */
    mfaForReadOnlyRoles: boolean
    /** Failed logins before a lock, per user and per source address. */
    lockoutThreshold: number
    lockoutSeconds: number
  }
  limits: {
    /** Requests per minute per source address and per user. */
    rateLimitPerMinute: number
    bodyLimitBytes: number
    maxConnections: number
    /** TLS handshakes under way at once; more connections wait their turn (a reconnect storm). */
    maxConcurrentHandshakes: number
    /** The listen socket's accept queue (capped by the kernel's net.core.somaxconn). */
    listenBacklog: number
    headersTimeoutMs: number
    requestTimeoutMs: number
  }
  /** Extra addresses trusted as proxies for X-Forwarded-For (load balancer). */
  trustProxy: string[]
  /** Balancers (addresses/CIDRs) whose connections start with a PROXY protocol v2 header (http/proxy-protocol.ts). */
  proxyProtocolFrom: string[]
  /** The device agent control channel (docs/agent-protocol.md). */
  agents: {
    /** WebSocket ping period per connection. */
    heartbeatIntervalMs: number
    /** A connection silent (no pong, no message) this long is terminated. */
    heartbeatTimeoutMs: number
    /** How long a request on the control channel waits for the agent's answer. */
    requestTimeoutMs: number
  }
  /** Tunnels (docs/tunnels.md). */
  tunnels: {
    /** A stream with no bytes either way for this long is closed (audited as idle). */
    idleTimeoutSeconds: number
    /** Asking the device, its connecting to the target and dialling back must finish within this. */
    setupTimeoutMs: number
  }
  /** Log bundles (docs/logs.md). */
  logs: {
    /** Encrypted bundles and uploads in progress; default DATA_DIR/logs. */
    storageDir: string
    /** Residency label recorded on every bundle stored here, e.g. "eu". */
    region: string
    /** Bundles older than this are deleted (audited). */
    retentionDays: number
    /** Master key file (0600, base64 of 32 bytes); env TETHER_LOGS_MASTER_KEY overrides it. */
    masterKeyFile: string
  }
  /** Staged rollouts of updates (docs/updates.md "Rolling out"). */
  deployments: {
    /** How often deployments are looked at besides job changes: deadlines, stage waits, joining devices. */
    tickSeconds: number
  }
  /** Where log bundles, uploads in progress and update packages live (docs/operations.md "Blob storage"). */
  storage: {
    /** 'local': files under logs.storageDir/updates.storageDir (one node); 'postgres': in the database, read by every node. */
    blobs: BlobBackend
  }
  /** Anchoring the audit chain outside the database (docs/audit-format.md). */
  audit: {
    /** Ed25519 private key (PKCS#8 PEM, 0600) that signs checkpoints; every node needs the same one. */
    checkpointKeyFile: string
    /** How often the chain head is signed (when it moved) and sent to every connected agent. */
    checkpointIntervalSeconds: number
  }
  /** This node among several on one PostgreSQL (docs/operations.md, "Several nodes"). */
  cluster: {
    /** Unique per node; default: this machine's hostname. */
    nodeId: string
    /** HOST:PORT other nodes dial to reach this one (tunnel legs); null: this node runs alone. */
    peerAddress: string | null
  }
  /** Software updates: the server's TUF repository (docs/updates.md, "On the server"). */
  updates: {
    /** Published packages (content-addressed) and uploads in progress; default DATA_DIR/updates. */
    storageDir: string
    /** Online Ed25519 keys (PKCS#8 PEM, 0600) the offline root names for snapshot and timestamp; every node needs the same ones. */
    snapshotKeyFile: string
    timestampKeyFile: string
    /** Lifetime of each timestamp.json: how long a compromised or cut-off server can freeze devices at most. */
    timestampExpirySeconds: number
    /** Lifetime of each snapshot.json. */
    snapshotExpirySeconds: number
    /** How often the server checks whether timestamp/snapshot have less than half their lifetime left (then re-signs). */
    refreshIntervalSeconds: number
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    config: ServerConfig
  }
}
