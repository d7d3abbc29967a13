import {z} from 'zod'
import {AuditCheckpoint, CheckpointPublicKey} from '../audit-checkpoint.js'
import {AccessRequestRequest} from './access.js'
import {JobMessage, JobUpdateMessage} from './jobs.js'
import {StreamEndingMessage, TunnelOpenRequest} from './tunnels.js'

/**
 * The agent control channel: one WebSocket per device at AGENT_CONNECT_PATH, JSON text frames.
 * Every message this file knows is listed in one discriminated union on `type`. Both sides
 * import it: the server hub (src/server/hub) and the agent session (src/agent). Objects are
 * loose on purpose (z.object, not strictObject): a newer peer may add fields, and an older one
 * ignores them (forward compatibility); an unknown `type` is answered with `error`.
 */

export const AGENT_CONNECT_PATH = '/api/v1/agent/connect'
export const AGENT_ENROLL_PATH = '/api/v1/agent/enroll'

/** Versions this build speaks, oldest first. The server picks the highest both sides list. */
export const PROTOCOL_VERSIONS = [1] as const
export const CURRENT_PROTOCOL_VERSION = 1

/**
 * Larger frames are refused by ws (maxPayload) with close code 1009 on either side. Sized for a
 * `job-update` carrying a diagnostic result of up to MAX_JOB_RESULT_BYTES (256 KiB) plus framing.
 */
export const MAX_FRAME_BYTES = 384 * 1024

/** Server defaults; the welcome tells the agent the values in force. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 25_000
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 60_000

/** How long the server waits for a `response` to a `request` before giving up. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000

/** WebSocket close codes used on the control channel (4000-4999 are application codes). */
export const CloseCodes = {
  normal: 1000,
  /** Server shutting down (with `bye {reason:'shutdown'}` first): reconnect with backoff. */
  goingAway: 1001,
  /** Protocol error, e.g. no common protocol version (`error` UNSUPPORTED_VERSION first). */
  protocolError: 1002,
  /** Frame larger than MAX_FRAME_BYTES (ws closes it by itself). */
  messageTooBig: 1009,
  /** The first message was not a valid `hello` within the hello timeout. */
  helloRequired: 4000,
  /** Heartbeat timeout (pongs missing) — terminate, not a clean close, in practice 1006. */
  heartbeatTimeout: 4001,
  /** The same device connected again elsewhere; this older connection is replaced. */
  replaced: 4002,
  /** The device was revoked (`bye {reason:'revoked'}` first): do not come back. */
  revoked: 4003,
} as const

export const AccessModeName = z.enum(['allow', 'no-access', 'approval-required'])
export type AccessModeName = z.infer<typeof AccessModeName>

export const AccessMode = z.object({
  mode: AccessModeName,
  /** ISO-8601 UTC end of a temporary allow (then back to no-access); null = no expiry. */
  until: z.string().nullable(),
})
export type AccessMode = z.infer<typeof AccessMode>

export const Inventory = z.object({
  serial: z.string().min(1).max(128),
  model: z.string().max(128),
  agentVersion: z.string().max(64),
  os: z.string().max(256),
  uptimeSeconds: z.number().nonnegative(),
  addresses: z.array(z.string().max(64)).max(64),
  accessMode: AccessMode,
  /** The diagnostics catalogue (built-ins + agent.json scripts) this agent will run; absent = older agent. */
  diagnostics: z.array(z.string().max(64)).max(256).optional(),
  /** Job kinds the local config accepts ('diagnostic', 'logs'); absent = older agent. */
  jobKinds: z.array(z.string().max(32)).max(16).optional(),
  /** The device software version the last update installed (installed.json); null = unknown, absent = older agent. */
  softwareVersion: z.string().max(64).nullable().optional(),
})
export type Inventory = z.infer<typeof Inventory>

const Id = z.string().min(1).max(128)

// ---- agent → server -------------------------------------------------------------------------

export const HelloMessage = z.object({
  type: z.literal('hello'),
  id: Id.optional(),
  protocolVersions: z.array(z.number().int().positive()).min(1).max(32),
  inventory: Inventory,
  /** The latest audit checkpoint this device witnessed; the server checks its chain still extends it. */
  witness: AuditCheckpoint.optional(),
})

export const InventoryMessage = z.object({
  type: z.literal('inventory'),
  id: Id.optional(),
  inventory: Inventory,
})

/**
 * A device-local audit event the server records too; eventId makes delivery idempotent. The
 * action must be one of the registry in device-events.ts, its details must fit that action's
 * schema; anything else is acknowledged with `refused` and not recorded.
 */
export const EventMessage = z.object({
  type: z.literal('event'),
  id: Id.optional(),
  eventId: z.uuid(),
  time: z.string().max(64),
  /** e.g. 'device.access-mode.changed', 'device.session.refused' (device-events.ts). */
  action: z.string().min(1).max(128),
  outcome: z.enum(['success', 'failure', 'denied']),
  details: z.record(z.string(), z.unknown()).default({}),
})

export const ResponseError = z.object({code: z.string().max(64), message: z.string().max(1024)})
export type ResponseError = z.infer<typeof ResponseError>

export const ResponseMessage = z.object({
  type: z.literal('response'),
  /** The `request` id this answers. */
  id: Id,
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: ResponseError.optional(),
})

// ---- server → agent -------------------------------------------------------------------------

export const WelcomeMessage = z.object({
  type: z.literal('welcome'),
  id: Id.optional(),
  protocolVersion: z.number().int().positive(),
  serverTime: z.string(),
  heartbeatIntervalMs: z.number().int().positive(),
  heartbeatTimeoutMs: z.number().int().positive(),
  /** The key the server signs audit checkpoints with; absent when the server has none. */
  checkpointKey: CheckpointPublicKey.optional(),
})

/**
 * The event is settled: recorded (or recorded before), or `refused` for good (an action outside
 * the registry, details that do not fit it). Either way the agent drops it from its outbox.
 */
export const EventAckMessage = z.object({
  type: z.literal('event-ack'),
  id: Id.optional(),
  eventId: z.uuid(),
  refused: z.object({code: z.string().max(64), message: z.string().max(1024)}).optional(),
})

/**
 * A newly signed audit checkpoint (sent after `welcome` and whenever the server signs one). The
 * agent keeps the latest in its local audit and presents it in its next `hello` (`witness`).
 */
export const CheckpointMessage = z.object({
  type: z.literal('checkpoint'),
  id: Id.optional(),
  checkpoint: AuditCheckpoint,
})

/** Answered with {ok: true, result: {pong: true}}; used by bench/agent-fanin's broadcast. */
export const PingRequest = z.object({
  type: z.literal('request'),
  id: Id,
  kind: z.literal('ping'),
  params: z.object({}).optional(),
})
/** Requests by `kind`; the agent answers each through its handler table (src/agent/handlers.ts). */
export const RequestMessage = z.discriminatedUnion('kind', [TunnelOpenRequest, PingRequest, AccessRequestRequest])

/** Reply to a malformed or unknown message; refId names the offending message's id if any. */
export const ErrorMessage = z.object({
  type: z.literal('error'),
  id: Id.optional(),
  refId: z.string().max(128).optional(),
  code: z.string().max(64),
  message: z.string().max(1024),
})

export const ByeMessage = z.object({
  type: z.literal('bye'),
  id: Id.optional(),
  reason: z.enum(['revoked', 'shutdown', 'replaced', 'protocol-error']).or(z.string().max(64)),
})

// Discriminated on `type`: one schema is tried per message, not each in turn (the hub parses
// 10,000 responses to a broadcast).
export const AgentToServer = z.discriminatedUnion('type', [
  HelloMessage,
  InventoryMessage,
  EventMessage,
  ResponseMessage,
  ErrorMessage,
  JobUpdateMessage,
  StreamEndingMessage,
])
export type AgentToServer = z.infer<typeof AgentToServer>
// `job` is itself a union on `kind`; zod 4 accepts a nested discriminated union as an option.
export const ServerToAgent = z.discriminatedUnion('type', [WelcomeMessage, EventAckMessage, RequestMessage, ErrorMessage, ByeMessage, JobMessage, CheckpointMessage])
export type ServerToAgent = z.infer<typeof ServerToAgent>

export type HelloMessage = z.infer<typeof HelloMessage>
export type InventoryMessage = z.infer<typeof InventoryMessage>
export type EventMessage = z.infer<typeof EventMessage>
export type ResponseMessage = z.infer<typeof ResponseMessage>
export type WelcomeMessage = z.infer<typeof WelcomeMessage>
export type EventAckMessage = z.infer<typeof EventAckMessage>
export type RequestMessage = z.infer<typeof RequestMessage>
export type PingRequest = z.infer<typeof PingRequest>
export type ErrorMessage = z.infer<typeof ErrorMessage>
export type ByeMessage = z.infer<typeof ByeMessage>
export type CheckpointMessage = z.infer<typeof CheckpointMessage>

/** Error codes carried by `error` messages and `response.error`. */
export const ProtocolErrorCodes = {
  malformed: 'MALFORMED',
  unknownType: 'UNKNOWN_TYPE',
  invalid: 'INVALID_MESSAGE',
  unsupportedVersion: 'UNSUPPORTED_VERSION',
  helloRequired: 'HELLO_REQUIRED',
  unknownKind: 'UNKNOWN_KIND',
  /** The device is in no-access mode. */
  refusedByDevice: 'REFUSED_BY_DEVICE',
  /** The port is not in the device's allowedTunnelPorts. */
  portNotAllowed: 'PORT_NOT_ALLOWED',
  /** host:port is not in the device's allowedTunnelTargets. */
  targetNotAllowed: 'TARGET_NOT_ALLOWED',
  /** approval-required mode and no current approval for this engineer and port. */
  approvalRequired: 'APPROVAL_REQUIRED',
  /** The device could not connect to the target (nothing listening, refused, timeout). */
  targetRefused: 'TARGET_REFUSED',
  /** The device could not dial the server for the stream's data connection. */
  dataLegFailed: 'DATA_LEG_FAILED',
  internal: 'INTERNAL',
} as const
