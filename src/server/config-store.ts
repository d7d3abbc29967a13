import {homedir} from 'node:os'
import {isAbsolute, join, relative, resolve} from 'node:path'
import {z} from 'zod'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {UsageError} from '../shared/errors.js'
import {BLOB_BACKENDS} from './blobs/blob-store.js'
import {balancerList} from './http/proxy-protocol.js'
import type {ServerConfig} from './config.js'
import {defaultServerConfig} from './config-defaults.js'
import {readTextIfExists} from '../shared/optional-file.js'

export const CONFIG_FILE = 'config.json'

/**
 * Where the server keeps its state when --data-dir is not given: $TETHER_DATA_DIR, else
 * $XDG_DATA_HOME/tether/server, else ~/.local/share/tether/server.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TETHER_DATA_DIR) return resolve(env.TETHER_DATA_DIR)
  const base = env.XDG_DATA_HOME || join(homedir(), '.local', 'share')
  return join(base, 'tether', 'server')
}

const Port = z.number().int().min(0).max(65535)
const Positive = z.number().int().positive()
/** A node id: what `tether server nodes` shows and presence rows name. */
export const NodeId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, dots, dashes and underscores (at most 63)')
/** HOST:PORT (an IPv6 host in brackets) other nodes dial. */
export const PeerAddress = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):\d{1,5}$/, 'HOST:PORT (IPv6 in brackets)').refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port above 65535')

/** config.json: every field optional (defaults fill the rest), unknown fields are an error. */
const ConfigFile = z.strictObject({
  host: z.string().min(1).optional(),
  port: Port.optional(),
  hostnames: z.array(z.string().min(1)).min(1).optional(),
  database: z.string().min(1).optional(),
  tls: z.strictObject({certFile: z.string(), keyFile: z.string(), caFile: z.string()}).partial().optional(),
  deviceCa: z.strictObject({certFile: z.string(), keyFile: z.string()}).partial().optional(),
  auth: z
    .strictObject({
      jwtSecretFile: z.string(),
      mfaKeyFile: z.string().min(1),
      accessTokenTtlSeconds: Positive,
      refreshTokenTtlSeconds: Positive,
      mfaForReadOnlyRoles: z.boolean(),
      lockoutThreshold: Positive,
      lockoutSeconds: Positive,
    })
    .partial()
    .optional(),
  limits: z
    .strictObject({
      rateLimitPerMinute: Positive,
      bodyLimitBytes: Positive,
      maxConnections: Positive,
      maxConcurrentHandshakes: Positive,
      listenBacklog: Positive,
      headersTimeoutMs: Positive,
      requestTimeoutMs: Positive,
    })
    .partial()
    .optional(),
  trustProxy: z.array(z.string().min(1)).optional(),
  proxyProtocolFrom: z
    .array(z.string().min(1))
    .superRefine((entries, ctx) => {
      try {
        balancerList(entries)
      } catch (error) {
        ctx.addIssue({code: 'custom', message: `${(error as Error).message}; expected e.g. "10.0.0.10" or "10.0.1.0/24"`})
      }
    })
    .optional(),
  agents: z.strictObject({heartbeatIntervalMs: Positive, heartbeatTimeoutMs: Positive, requestTimeoutMs: Positive}).partial().optional(),
  tunnels: z.strictObject({idleTimeoutSeconds: Positive, setupTimeoutMs: Positive}).partial().optional(),
  deployments: z.strictObject({tickSeconds: Positive}).partial().optional(),
  logs: z
    .strictObject({
      storageDir: z.string().min(1),
      region: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'lowercase letters, digits and dashes'),
      retentionDays: Positive,
      masterKeyFile: z.string().min(1),
    })
    .partial()
    .optional(),
  storage: z.strictObject({blobs: z.enum(BLOB_BACKENDS)}).partial().optional(),
  audit: z.strictObject({checkpointKeyFile: z.string().min(1), checkpointIntervalSeconds: Positive}).partial().optional(),
  cluster: z.strictObject({nodeId: NodeId, peerAddress: PeerAddress.nullable()}).partial().optional(),
  updates: z
    .strictObject({
      storageDir: z.string().min(1),
      snapshotKeyFile: z.string().min(1),
      timestampKeyFile: z.string().min(1),
      timestampExpirySeconds: Positive,
      snapshotExpirySeconds: Positive,
      refreshIntervalSeconds: Positive,
    })
    .partial()
    .optional(),
})
type ConfigFile = z.infer<typeof ConfigFile>

/** Reads DATA_DIR/config.json over the defaults; null when the file does not exist. */
export async function readServerConfig(dataDir: string): Promise<ServerConfig | null> {
  const dir = resolve(dataDir)
  const path = join(dir, CONFIG_FILE)
  const text = await readTextIfExists(path)
  if (text === null) return null
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new UsageError(`${path}: not valid JSON (${(error as Error).message})`, {cause: error})
  }
  const parsed = ConfigFile.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = issue.path.map(String).join('.') || '(root)'
    const what = issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message
    throw new UsageError(`${path}: ${field}: ${what}`)
  }
  return mergeConfig(dir, parsed.data)
}

function mergeConfig(dataDir: string, file: ConfigFile): ServerConfig {
  const d = defaultServerConfig(dataDir)
  const at = (p: string): string => (isAbsolute(p) ? p : join(dataDir, p))
  const tls = {...d.tls, ...file.tls}
  const deviceCa = {...d.deviceCa, ...file.deviceCa}
  const auth = {...d.auth, ...file.auth}
  const database = file.database ?? d.database
  return {
    ...d,
    ...(file.host === undefined ? {} : {host: file.host}),
    ...(file.port === undefined ? {} : {port: file.port}),
    ...(file.hostnames === undefined ? {} : {hostnames: file.hostnames}),
    database: isDatabaseUrl(database) ? database : at(database.replace(/^sqlite:/, '')),
    tls: {certFile: at(tls.certFile), keyFile: at(tls.keyFile), caFile: at(tls.caFile)},
    deviceCa: {certFile: at(deviceCa.certFile), keyFile: at(deviceCa.keyFile)},
    auth: {...auth, jwtSecretFile: at(auth.jwtSecretFile), mfaKeyFile: at(auth.mfaKeyFile)},
    limits: {...d.limits, ...file.limits},
    trustProxy: file.trustProxy ?? d.trustProxy,
    proxyProtocolFrom: file.proxyProtocolFrom ?? d.proxyProtocolFrom,
    agents: {...d.agents, ...file.agents},
    tunnels: {...d.tunnels, ...file.tunnels},
    deployments: {...d.deployments, ...file.deployments},
    cluster: {...d.cluster, ...file.cluster},
    logs: {...d.logs, ...file.logs, storageDir: at(file.logs?.storageDir ?? d.logs.storageDir), masterKeyFile: at(file.logs?.masterKeyFile ?? d.logs.masterKeyFile)},
    storage: {...d.storage, ...file.storage},
    audit: {...d.audit, ...file.audit, checkpointKeyFile: at(file.audit?.checkpointKeyFile ?? d.audit.checkpointKeyFile)},
    updates: {
      ...d.updates,
      ...file.updates,
      storageDir: at(file.updates?.storageDir ?? d.updates.storageDir),
      snapshotKeyFile: at(file.updates?.snapshotKeyFile ?? d.updates.snapshotKeyFile),
      timestampKeyFile: at(file.updates?.timestampKeyFile ?? d.updates.timestampKeyFile),
    },
  }
}

export function isDatabaseUrl(value: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value)
}

/**
 * Writes config.json with paths inside the data dir stored relative to it, so the directory
 * can be moved or copied to another node as a whole. Mode 0600: it may hold a database URL.
 */
export async function writeServerConfig(config: ServerConfig, dir = config.dataDir): Promise<string> {
  const base = resolve(config.dataDir)
  const rel = (p: string): string => {
    const r = relative(base, resolve(p))
    return r.startsWith('..') || isAbsolute(r) ? p : r
  }
  const file: ConfigFile = {
    host: config.host,
    port: config.port,
    hostnames: config.hostnames,
    database: isDatabaseUrl(config.database) ? config.database : rel(config.database),
    tls: {certFile: rel(config.tls.certFile), keyFile: rel(config.tls.keyFile), caFile: rel(config.tls.caFile)},
    deviceCa: {certFile: rel(config.deviceCa.certFile), keyFile: rel(config.deviceCa.keyFile)},
    auth: {...config.auth, jwtSecretFile: rel(config.auth.jwtSecretFile), mfaKeyFile: rel(config.auth.mfaKeyFile)},
    limits: config.limits,
    trustProxy: config.trustProxy,
    proxyProtocolFrom: config.proxyProtocolFrom,
    agents: config.agents,
    tunnels: config.tunnels,
    deployments: config.deployments,
    logs: {...config.logs, storageDir: rel(config.logs.storageDir), masterKeyFile: rel(config.logs.masterKeyFile)},
    storage: config.storage,
    audit: {...config.audit, checkpointKeyFile: rel(config.audit.checkpointKeyFile)},
    updates: {...config.updates, storageDir: rel(config.updates.storageDir), snapshotKeyFile: rel(config.updates.snapshotKeyFile), timestampKeyFile: rel(config.updates.timestampKeyFile)},
  }
  const path = join(dir, CONFIG_FILE)
  await writeFileAtomic(path, JSON.stringify(file, null, 2) + '\n', 0o600)
  return path
}
