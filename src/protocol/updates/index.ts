import semver from 'semver'
import {z} from 'zod'

/**
 * Software updates (issue #12): the contract shared by the release machine (`tether updates repo|add`),
 * the server (publish, TUF repository, deployments) and the agent (download, verify, install).
 *
 * Trust: TUF. root and targets are signed offline by the manufacturer; snapshot and timestamp are
 * signed by the server's online keys. What a device may install is decided by the signed targets
 * metadata alone, including the custom fields below (`TargetCustom`), which the targets key signs.
 */

export const SemVer = z.string().max(64).refine((v) => semver.valid(v) === v, 'a semantic version such as 2.4.1')
export type SemVer = z.infer<typeof SemVer>

export const DeviceModel = z.string().min(1).max(128)

/** Hook names the target asks for; the device maps names to commands in its agent.json (absent = the default hooks). */
export const TargetHooks = z.strictObject({
  install: z.string().max(64).optional(),
  healthCheck: z.string().max(64).optional(),
  rollback: z.string().max(64).optional(),
})

/**
 * targets.json → signed.targets[path].custom.tether. Signed with the targets key, so neither the
 * server nor the network can change the version, the models or the downgrade permission.
 */
export const TargetCustom = z.strictObject({
  version: SemVer,
  models: z.array(DeviceModel).min(1).max(64),
  /** The device must run at least this version before it installs this one. */
  minVersion: SemVer.optional(),
  /** The publisher signed this target as an explicit downgrade: the version rule lets it install below the installed one. */
  downgrade: z.boolean().optional(),
  hooks: TargetHooks.optional(),
})
export type TargetCustom = z.infer<typeof TargetCustom>

/** Where a package lives in the TUF repository: `<version>/<file name>` (one version may ship per-model files). */
export function targetPath(version: string, fileName: string): string {
  return `${version}/${fileName}`
}

/** TUF roles and the keys that sign them. root and targets: offline (release machine); snapshot and timestamp: online (server). */
export const OFFLINE_ROLES = ['root', 'targets'] as const
export const ONLINE_ROLES = ['snapshot', 'timestamp'] as const

// ---- on the control channel: the `update` job ---------------------------------------------------

/** Params of an `update` job: which signed target to install. The agent trusts none of it beyond "look this up in TUF". */
export const UpdateJobParams = z.strictObject({
  deploymentId: z.string().min(1).max(64),
  targetPath: z.string().min(1).max(256),
  version: SemVer,
})
export type UpdateJobParams = z.infer<typeof UpdateJobParams>

/**
 * Where an update is, as the device reports it in job-update progress (`phase`) and the server shows
 * in `updates status`. Final outcomes are the job's status plus `UpdateJobResult` / the error code.
 */
export const UpdatePhase = z.enum(['queued', 'waiting-for-window', 'waiting-for-approval', 'downloading', 'verifying', 'installing', 'health-check', 'rolling-back'])
export type UpdatePhase = z.infer<typeof UpdatePhase>

/** Result of a succeeded `update` job. */
export const UpdateJobResult = z.strictObject({installedVersion: SemVer, previousVersion: SemVer.nullable()})
export type UpdateJobResult = z.infer<typeof UpdateJobResult>

/**
 * Error codes of a failed or refused `update` job: at which step and why. A refusal (`refused`
 * status) is the device deciding not to install (policy, a verification check); a failure is a step
 * that went wrong. ROLLED_BACK means install or health check failed and the rollback hook succeeded.
 */
export const UpdateErrorCodes = {
  notAllowed: 'UPDATES_NOT_ALLOWED',
  deferred: 'DEFERRED',
  verifyFailed: 'VERIFY_FAILED',
  wrongModel: 'WRONG_MODEL',
  notNewer: 'NOT_NEWER',
  belowMinVersion: 'BELOW_MIN_VERSION',
  downloadFailed: 'DOWNLOAD_FAILED',
  installFailed: 'INSTALL_FAILED',
  healthFailed: 'HEALTH_CHECK_FAILED',
  rolledBack: 'ROLLED_BACK',
  rollbackFailed: 'ROLLBACK_FAILED',
} as const

// ---- the TUF repository as agents read it (HTTPS with the device's mTLS certificate) -------------

/** `${AGENT_UPDATES_PATH}/metadata/<role>.json`, `.../metadata/<N>.root.json`. */
export const AGENT_UPDATES_METADATA_PATH = '/api/v1/agent/updates/metadata'
/** `${AGENT_UPDATES_TARGETS_PATH}/<targetPath>`; honours `Range: bytes=N-`. */
export const AGENT_UPDATES_TARGETS_PATH = '/api/v1/agent/updates/targets'

// ---- on the device: agent.json `updates` --------------------------------------------------------

const Command = z.array(z.string().min(1).max(4096)).min(1).max(64)

/**
 * agent.json `updates`: the customer decides. Absent or allowed=false: every update job is refused.
 * `window`: install only inside it (download any time), e.g. "Sat 02:00-06:00 Europe/Berlin"
 * (days `Mon`..`Sun`, comma lists or `Mon-Fri`, or `daily`; an IANA zone, default UTC).
 */
export const AgentUpdatesConfig = z.strictObject({
  allowed: z.boolean().default(false),
  window: z.string().max(128).optional(),
  requireApproval: z.boolean().default(false),
  install: Command.optional(),
  healthCheck: Command.optional(),
  rollback: Command.optional(),
  hookTimeoutSeconds: z.number().int().min(1).max(24 * 3600).default(1800),
})
export type AgentUpdatesConfig = z.infer<typeof AgentUpdatesConfig>

// ---- the server's online keys, as the release machine's root names them -------------------------

export {OnlinePublicKeys, TufEd25519PublicKey} from './online-keys.js'
