import {mkdir, readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {join, resolve} from 'node:path'
import {z} from 'zod'
import {BUILTIN_DIAGNOSTICS, DiagnosticName, JOB_KIND_LABELS, JOB_KINDS as PROTOCOL_JOB_KINDS, UPLOAD_CHUNK_BYTES, type JobKind as ProtocolJobKind, type JobKindLabel} from '../protocol/agent/index.js'
import {AgentUpdatesConfig} from '../protocol/updates/index.js'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {parseWindow} from './updates/window.js'
import {UsageError} from '../shared/errors.js'

/** --data-dir, else $TETHER_AGENT_DIR, else $XDG_DATA_HOME/tether/agent (~/.local/share/tether/agent). */
export function agentDataDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag)
  if (env.TETHER_AGENT_DIR) return resolve(env.TETHER_AGENT_DIR)
  const base = env.XDG_DATA_HOME || join(homedir(), '.local', 'share')
  return join(base, 'tether', 'agent')
}

/** The files of an agent data dir (docs/agent.md lists them). */
export function agentFiles(dir: string) {
  return {
    dir,
    config: join(dir, 'agent.json'),
    key: join(dir, 'device.key'),
    cert: join(dir, 'device.crt'),
    deviceCa: join(dir, 'device-ca.crt'),
    serverCa: join(dir, 'server-ca.crt'),
    policy: join(dir, 'policy.json'),
    audit: join(dir, 'audit.log'),
    outbox: join(dir, 'outbox.jsonl'),
    status: join(dir, 'status.json'),
    /** The server's audit checkpoint key, pinned on first sight, and the latest checkpoint witnessed under it. */
    checkpointKey: join(dir, 'checkpoint-key.json'),
    witness: join(dir, 'witness.json'),
    lock: join(dir, '.lock'),
    /** `tether agent sessions end` asks the running agent to end streams (tunnels/end-requests.ts). */
    endSessions: join(dir, 'end-sessions.json'),
    proxySecrets: join(dir, 'proxy-credentials.json'),
    /** Just-in-time access: requests from engineers and the grants approved at the device (access-requests.ts, grants.ts). */
    accessRequests: join(dir, 'access-requests.json'),
    /** Log bundles being built or uploaded, and their upload state (resumable across restarts). */
    spool: join(dir, 'spool'),
    /** Software updates (updates/paths.ts): TUF metadata, partial downloads, approvals, the installed version. */
    updates: join(dir, 'updates'),
  }
}
export type AgentFiles = ReturnType<typeof agentFiles>

/** The kinds as agent.json names them (the protocol registry's labels). */
export const CONFIG_JOB_KINDS = JOB_KIND_LABELS as [JobKindLabel, ...JobKindLabel[]]
export type JobKind = JobKindLabel

/** The config name of a protocol job kind ('diagnostic' jobs are allowed by 'diagnostics'). */
export function configJobKind(kind: ProtocolJobKind): JobKind {
  return PROTOCOL_JOB_KINDS[kind].label
}

const ms = z.number().int().positive()

/** A customer diagnostic script: run with execFile semantics (argv, no shell), output bounded. */
export const DiagnosticScript = z.strictObject({
  command: z.array(z.string().min(1)).min(1),
  timeoutSeconds: z.number().int().positive().max(3600).default(30),
  description: z.string().max(256).optional(),
})
export type DiagnosticScript = z.infer<typeof DiagnosticScript>

/** agent.json: everything the agent needs except secrets (the key is device.key, the proxy password is in the credential store). */
export const AgentConfig = z.object({
  version: z.literal(1),
  server: z.string().url(),
  serial: z.string().min(1),
  model: z.string().optional(),
  /** Proxy URL without a password (the password lives in the credential store). */
  proxy: z.string().nullable().default(null),
  /** Where the proxy password is kept (null: the proxy needs none). */
  proxyPasswordStore: z.enum(['keychain', 'file']).nullable().default(null),
  /** Only when the server's welcome gives none: how long without any frame before the agent drops the link. */
  heartbeatTimeoutMs: ms.default(60_000),
  backoff: z
    .object({
      baseMs: ms.default(1000),
      capMs: ms.default(60_000),
      /** A connection that lasted this long resets the backoff. */
      stableAfterMs: ms.default(30_000),
      /** A revoked device retries this rarely (it stays out; this only notices a re-enrolment). */
      revokedRetryMs: ms.default(600_000),
    })
    .prefault({}),
  connectTimeoutMs: ms.default(15_000),
  /** How often the running agent re-reads policy.json and the outbox (CLI changes, expiry). */
  pollMs: ms.default(1000),
  /** The outbox bound: when full, the oldest undelivered event is dropped (it stays in the local audit). */
  outboxMax: ms.default(1000),
  /** Local TCP ports a tunnel may reach through this device; empty = none. */
  allowedTunnelPorts: z.array(z.number().int().min(1).max(65535)).default([]),
  /** Hosts on the device's network a tunnel may reach, exactly as "host:port" ("[v6]:port"); empty = none. */
  allowedTunnelTargets: z.array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected "host:port", e.g. "10.0.5.20:22"')).default([]),
  /** Run on remote-session start and end (argv, no shell) with a JSON event on stdin. */
  sessionHook: z.array(z.string().min(1)).min(1).optional(),
  /** Job kinds this device accepts. */
  acceptedJobKinds: z.array(z.enum(CONFIG_JOB_KINDS)).default(['diagnostics', 'logs']),
  /** Named diagnostic scripts the server may run by name (besides the built-ins). */
  diagnostics: z
    .record(DiagnosticName, DiagnosticScript)
    .default({})
    .refine((d) => Object.keys(d).every((name) => !(BUILTIN_DIAGNOSTICS as readonly string[]).includes(name)), {message: 'a diagnostic script cannot take the name of a built-in diagnostic'}),
  /** Files a log collection packs: absolute paths or globs (*, ?, ** for any depth). */
  logSources: z.array(z.string().min(1)).default([]),
  jobs: z
    .object({
      /** Jobs running at once; more wait in a bounded queue. */
      concurrency: z.number().int().min(1).max(16).default(2),
      queueMax: z.number().int().min(0).max(1000).default(32),
      diagnosticTimeoutSeconds: z.number().int().positive().default(120),
      logsTimeoutSeconds: z.number().int().positive().default(3600),
      /** An update may wait days for its install window; its deadline ends it sooner. */
      updateTimeoutSeconds: z.number().int().positive().default(8 * 24 * 3600),
    })
    .prefault({}),
  logs: z
    .object({
      /** Upper bound of a bundle in the spool; a collection that would exceed it fails. */
      maxBundleBytes: z.number().int().positive().default(2 * 1024 * 1024 * 1024),
      chunkBytes: z.number().int().positive().max(16 * 1024 * 1024).default(UPLOAD_CHUNK_BYTES),
      /** gzip level of bundles: 1 is fast and still shrinks text logs several times. */
      gzipLevel: z.number().int().min(0).max(9).default(1),
      /** zstd level of bundles (tar.zst since streaming; gzipLevel is no longer used): 1 is faster than gzip -1 and shrinks more. */
      zstdLevel: z.number().int().min(1).max(19).default(1),
    })
    .prefault({}),
  /** Software updates (docs/updates.md "On the device"): off unless the customer opts in. */
  updates: AgentUpdatesConfig.superRefine((u, ctx) => {
    if (u.window === undefined) return
    try {
      parseWindow(u.window)
    } catch (error) {
      ctx.addIssue({code: 'custom', path: ['window'], message: (error as Error).message.replace(/^updates\.window: /, '')})
    }
  }).prefault({}),
})
export type AgentConfig = z.infer<typeof AgentConfig>

export async function readAgentConfig(files: AgentFiles): Promise<AgentConfig> {
  let text: string
  try {
    text = await readFile(files.config, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UsageError(`${files.dir} holds no enrolled agent (no agent.json)`, {suggestions: ['Run `tether agent enroll --server URL --token TOKEN` first, or pass --data-dir.']})
    }
    throw error
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new UsageError(`${files.config} is not valid JSON: ${(error as Error).message}`, {cause: error})
  }
  const parsed = AgentConfig.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new UsageError(`${files.config}: ${issue.path.join('.') || '(root)'}: ${issue.message}`)
  }
  return parsed.data
}

export async function writeAgentConfig(files: AgentFiles, config: AgentConfig): Promise<void> {
  await mkdir(files.dir, {recursive: true, mode: 0o700})
  await writeFileAtomic(files.config, `${JSON.stringify(config, null, 2)}\n`, 0o600)
}
