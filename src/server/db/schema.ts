import type {ColumnType, Generated, Insertable, Selectable, Updateable} from 'kysely'
import type {JobKind} from '../../protocol/agent/jobs.js'

/**
 * The database as Kysely sees it, for SQLite and PostgreSQL alike. Portable column types only:
 * timestamps are ISO-8601 UTC text (sortable, identical on both), booleans are 0/1 integers,
 * structured values are JSON text. Migrations in ./migrations create exactly this.
 */
export interface Database {
  customers: CustomersTable
  sites: SitesTable
  devices: DevicesTable
  users: UsersTable
  user_scopes: UserScopesTable
  api_tokens: ApiTokensTable
  refresh_tokens: RefreshTokensTable
  login_throttle: LoginThrottleTable
  audit_events: AuditEventsTable
  enrollment_tokens: EnrollmentTokensTable
  agent_events: AgentEventsTable
  jobs: JobsTable
  log_uploads: LogUploadsTable
  logs_keys: LogsKeysTable
  audit_checkpoints: AuditCheckpointsTable
  audit_witnesses: AuditWitnessesTable
  access_requests: AccessRequestsTable
  sso_settings: SsoSettingsTable
  sso_identities: SsoIdentitiesTable
  sso_logins: SsoLoginsTable
  sso_sessions: SsoSessionsTable
  tuf_metadata: TufMetadataTable
  update_targets: UpdateTargetsTable
  update_publishes: UpdatePublishesTable
  deployments: DeploymentsTable
  deployment_devices: DeploymentDevicesTable
  nodes: NodesTable
  device_presence: DevicePresenceTable
  rate_limit_hits: RateLimitHitsTable
  live_tunnels: LiveTunnelsTable
}

export interface CustomersTable {
  id: string
  name: string
  created_at: string
}

export interface SitesTable {
  id: string
  customer_id: string
  name: string
  created_at: string
}

export interface DevicesTable {
  serial: string
  model: string
  customer_id: string
  site_id: string | null
  /** JSON object of string labels. */
  labels: string
  created_at: string
  /** Filled by the agent issue: enrollment, certificate, presence. */
  enrolled_at: string | null
  revoked_at: string | null
  cert_fingerprint: string | null
  last_seen_at: string | null
  /** JSON inventory reported by the agent at connect. */
  inventory: string | null
  /** Events the device sent that the device-event registry refused (counted, never stored). */
  events_refused: Generated<number>
  /** Installed software version the agent reports (inventory softwareVersion; migration 010). */
  software_version: Generated<string | null>
}

export type Role = 'admin' | 'service-engineer' | 'applications-specialist' | 'auditor' | 'viewer'

export interface UsersTable {
  id: string
  username: string
  display_name: string | null
  role: Role
  /** "scrypt$N$r$p$saltB64$hashB64": parameters are stored with each hash. */
  password_hash: string
  /**
   * TOTP secret sealed with the MFA key file of the data dir (never in the database):
   * `v1:<keyId>:<iv>:<ciphertext+tag>`, AES-256-GCM bound to this row's id. Read and written only
   * through app.mfaSecrets (src/server/auth/mfa-secret.ts); plaintext from older versions is
   * sealed at server start.
   */
  mfa_secret: string | null
  mfa_enabled: number
  /** 1: sees every customer (admins); 0: only the customers/sites in user_scopes. */
  scope_all: number
  disabled_at: string | null
  /** Bumped to invalidate every access token issued before (disable, password change). */
  token_epoch: number
  created_at: string
  updated_at: string
}

export interface UserScopesTable {
  user_id: string
  customer_id: string
  /** null: every site of the customer. */
  site_id: string | null
}

export interface ApiTokensTable {
  id: string
  user_id: string
  name: string
  /** SHA-256 (hex) of the secret; the secret is shown once. */
  token_hash: string
  /** JSON array of permission names, a subset of the owner's role. */
  permissions: string
  created_at: string
  expires_at: string
  revoked_at: string | null
  last_used_at: string | null
}

export interface RefreshTokensTable {
  id: string
  user_id: string
  token_hash: string
  created_at: string
  expires_at: string
  revoked_at: string | null
  /** The SSO sign-in this session came from (migration 009): its refresh re-checks the IdP. */
  sso_session_id?: string | null
}

/** Failed-login counters shared by every server node: key is "user:<name>" or "ip:<addr>". */
export interface LoginThrottleTable {
  key: string
  failures: number
  first_failure_at: string
  last_failure_at: string
  locked_until: string | null
}

export type ActorType = 'user' | 'device' | 'system'
export type Outcome = 'success' | 'failure' | 'denied'

export interface AuditEventsTable {
  /** Chain order. */
  seq: Generated<number>
  id: string
  time: string
  actor_type: ActorType
  actor: string
  action: string
  device_serial: string | null
  customer_id: string | null
  outcome: Outcome
  source_ip: string | null
  /** JSON object. */
  details: string
  prev_hash: string
  hash: string
}

/** One-time device enrollment tokens (issue: device agent). */
export interface EnrollmentTokensTable {
  /** SHA-256 (hex) of the token. */
  token_hash: string
  serial: string
  /** Username of the admin who created it. */
  created_by: string
  created_at: string
  expires_at: string
  used_at: string | null
}

/** Device event ids already recorded in the audit log: redelivery is acknowledged, not re-recorded. */
export interface AgentEventsTable {
  event_id: string
  serial: string
  received_at: string
}

/** Jobs sent to devices (diagnostics, log collections); see src/server/jobs. */
export interface JobsTable {
  id: string
  serial: string
  customer_id: string
  kind: JobKind
  /** JSON object. */
  params: string
  status: 'queued' | 'sent' | 'running' | 'succeeded' | 'failed' | 'refused' | 'expired' | 'cancelled'
  requested_by: string
  created_at: string
  deadline: string
  sent_at: string | null
  started_at: string | null
  finished_at: string | null
  /** JSON {done,total?}. */
  progress: string | null
  /** JSON result (diagnostic output, or {bundleId,size,sha256}). */
  result: string | null
  /** JSON {code,message}. */
  error: string | null
}

/**
 * Log bundle uploads; a complete one is a bundle (same id). The file is encrypted (docs/logs.md);
 * the data key is stored wrapped by the master key `key_id`.
 */
export interface LogUploadsTable {
  id: string
  serial: string
  customer_id: string
  job_id: string | null
  initiator: 'user' | 'device'
  requested_by: string | null
  since: string | null
  /** Plaintext size and SHA-256 (hex) declared by the device, verified at completion. */
  size: number
  sha256: string
  /** Plaintext bytes durably stored (whole segments); informational, the file is authoritative. */
  committed: number
  status: 'open' | 'complete'
  region: string
  key_id: string
  /** base64(nonce 12 | ciphertext 32 | tag 16) of the data key, AAD = upload id. */
  wrapped_key: string
  /** Path relative to logs.storageDir. */
  file: string
  created_at: string
  updated_at: string
  completed_at: string | null
  /** 'tar.gz' | 'tar.zst'; defaults to tar.gz for rows from before the column. */
  format: Generated<string>
  /** 1: size and sha256 are declared with the final chunk (0 / '' until then). */
  streamed: Generated<number>
}

/** Master keys ever used (material is in key files or env, never here). */
export interface LogsKeysTable {
  id: string
  created_at: string
  retired_at: string | null
}

/** Signed audit checkpoints this server issued (migration 005; the signing key is in the data dir). */
export interface AuditCheckpointsTable {
  seq: number
  hash: string
  time: string
  key_id: string
  signature: string
}

/** What witness a device presented on its last connect, and what the server made of it. */
export type WitnessVerdict = 'ok' | 'mismatch' | 'unknown-key' | 'bad-signature'

export interface AuditWitnessesTable {
  serial: string
  seq: number
  hash: string
  time: string
  key_id: string
  signature: string
  received_at: string
  verdict: WitnessVerdict
}

/** Engineers' just-in-time access requests (migration 007; src/server/access). */
export interface AccessRequestsTable {
  id: string
  serial: string
  customer_id: string
  /** The engineer's username. */
  requested_by: string
  reason: string
  /** JSON array of ports; empty = the ports the device allows. Once approved: the ports granted. */
  ports: string
  duration_seconds: number
  state: 'pending' | 'approved' | 'denied' | 'expired' | 'revoked'
  created_at: string
  /** Undecided after this, the request expires. */
  expires_at: string
  delivered_at: string | null
  decided_at: string | null
  /** The local actor at the device ("local:alice"), or "agent"/"server" for an expiry. */
  decided_by: string | null
  /** Approved: when the grant ends (as the device set it). */
  until: string | null
}

/** OpenID Connect single sign-on (migration 009; src/server/auth/sso). */
export interface SsoSettingsTable {
  id: string
  issuer: string
  client_id: string
  /** Sealed with the MFA key (mfa-secret.ts), bound to "sso-client". */
  client_secret: string
  /** JSON: claims, group mappings, MFA and SSO-only policy (sso/settings.ts). */
  settings: string
  updated_at: string
}

export interface SsoIdentitiesTable {
  user_id: string
  issuer: string
  subject: string
  /** JSON array: the mapped groups seen at the last sign-in or refresh. */
  groups: string
  created_at: string
  last_login_at: string
  /** Set when the IdP no longer grants a mapped group and the user was disabled for it. */
  deprovisioned_at: string | null
}

export interface SsoLoginsTable {
  /** SHA-256 (hex) of the login id only the CLI that started the sign-in knows. */
  id: string
  state: string
  nonce: string
  code_verifier: string
  redirect_uri: string
  created_at: string
  expires_at: string
  used_at: string | null
  /** JSON of a sign-in waiting for Tether's TOTP (sso/flow.ts). */
  pending: string | null
}

export interface SsoSessionsTable {
  id: string
  user_id: string
  /** The IdP's refresh token, sealed with the MFA key bound to this row's id; null when none was issued. */
  refresh_token: string | null
  /** 1 when the ID token showed MFA (amr/acr as configured). */
  idp_mfa: number
  created_at: string
  last_checked_at: string
  ended_at: string | null
}

/** Every version of every TUF role the server serves (migration 008). */
export interface TufMetadataTable {
  role: 'root' | 'targets' | 'snapshot' | 'timestamp'
  version: number
  /** The exact bytes served (UTF-8 JSON): snapshot and timestamp hash these. */
  json: string
  /** The document's signed `expires`, ISO-8601 UTC. */
  expires: string
  created_at: string
}

/** A published package: one signed target path of the live targets.json. */
export interface UpdateTargetsTable {
  path: string
  version: string
  /** JSON array of the device models the target is signed for. */
  models: string
  length: number
  sha256: string
  /** JSON of the signed custom.tether (TargetCustom). */
  custom: string
  /** The targets.json version that first listed it. */
  targets_version: number
  /** Where the bytes are, relative to the updates storage dir. */
  blob: string
  published_by: string
  published_at: string
}

/** A publish in progress: verified metadata waiting for its packages (never served). */
export interface UpdatePublishesTable {
  id: string
  /** JSON array of the new root documents, oldest first. */
  roots: string
  /** targets.json as uploaded (JSON). */
  targets: string
  targets_version: number
  created_by: string
  created_at: string
}

export type DeploymentStatus = 'running' | 'paused' | 'halted' | 'aborted' | 'completed'

/** Staged rollouts of an update (migration 010; src/server/rollouts). */
export interface DeploymentsTable {
  id: string
  version: string
  model: string
  /** The TUF target path the update jobs name. */
  target_path: string
  customer_id: string
  site_id: string | null
  /** JSON object of labels every targeted device must carry. */
  labels: string
  /** JSON array of cumulative percents, ascending, the last 100. */
  stages: string
  /** "2" (failed devices) or "5%" (of the devices dispatched so far). */
  halt_after: string
  stage_wait_seconds: number
  /** Per device: no final report this long after its job was created counts as failed (DEADLINE). */
  deadline_seconds: number
  status: DeploymentStatus
  current_stage: number
  stage_started_at: string
  /** When every device of the current stage had an outcome; the stage wait counts from here. */
  stage_done_at: string | null
  created_by: string
  created_at: string
  updated_at: string
  finished_at: string | null
  halted_reason: string | null
}

export type DeploymentDeviceState = 'pending' | 'queued' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled'

export interface DeploymentDevicesTable {
  deployment_id: string
  serial: string
  stage: number
  job_id: string | null
  state: DeploymentDeviceState
  /** The last UpdatePhase the device reported (where it was when it failed). */
  phase: string | null
  error_code: string | null
  error_message: string | null
  dispatched_at: string | null
  updated_at: string
}

export type Deployment = Selectable<DeploymentsTable>
export type DeploymentDevice = Selectable<DeploymentDevicesTable>
export type AccessRequest = Selectable<AccessRequestsTable>
export type Job = Selectable<JobsTable>
export type LogUpload = Selectable<LogUploadsTable>
export type EnrollmentToken = Selectable<EnrollmentTokensTable>
export type Customer = Selectable<CustomersTable>
export type Site = Selectable<SitesTable>
export type Device = Selectable<DevicesTable>
export type User = Selectable<UsersTable>
export type NewUser = Insertable<UsersTable>
export type UserUpdate = Updateable<UsersTable>
export type ApiToken = Selectable<ApiTokensTable>
export type AuditEventRow = Selectable<AuditEventsTable>
export type NewAuditEventRow = Insertable<AuditEventsTable>
export type {ColumnType}

/** A server node (012-cluster): live while lease_until is in the future. */
export interface NodesTable {
  id: string
  /** Random per process: tells a restarted node (or two nodes given one id) from the same process. */
  instance: string
  peer_address: string | null
  started_at: string
  heartbeat_at: string
  lease_until: string
  agents: number
  load_average: number
  rss_bytes: number
}
export type NodeRow = Selectable<NodesTable>

/** Which node holds a device's control channel; expired = offline (nobody has to clean up). */
export interface DevicePresenceTable {
  serial: string
  node_id: string
  connected_at: string
  lease_until: string
}

/** Request counters shared by every node: one row per key and fixed window (ms since epoch). */
export interface RateLimitHitsTable {
  key: string
  window_start: number
  hits: number
}

/**
 * A live tunnel stream (013-live-tunnels), written by the node carrying it: inserted with its
 * tunnel.open, deleted with its tunnel.close. `instance` is the node process's (nodes.instance):
 * a row of another instance than the node's live one is a stream lost with a crashed process.
 */
export interface LiveTunnelsTable {
  id: string
  node_id: string
  instance: string
  serial: string
  customer_id: string
  site_id: string | null
  user_id: string
  username: string
  /** The engineer's address, for the close a surviving node audits. */
  source_ip: string | null
  target: string
  reason: string | null
  /** ISO-8601, like every time in the schema. */
  since: string
  bytes_to_device: number
  bytes_from_device: number
  /** Set by a node asked to close a stream it does not carry: the owner closes it (closedBy). */
  close_requested_by: string | null
}
export type LiveTunnelRow = Selectable<LiveTunnelsTable>
