import {userInfo} from 'node:os'
import {AuthError, ForbiddenError, OperationFailedError, UnavailableError} from '../../shared/errors.js'
import {EventRecorder} from '../events.js'
import {JobFailure} from '../jobs/runner.js'
import {createUploadContext} from '../runtime.js'
import {LogsService} from './service.js'
import {UploadHttpError} from './upload-api.js'

/** `tether agent logs upload --json`. */
export interface AgentLogsUploadResult {
  serial: string
  bundleId: string
  size: number
  sha256: string
  files: number | null
  since: string | null
  /** > 0 when this run finished an upload an earlier run left half done. */
  resumedFrom: number
  /** Bytes this run sent; with a resume after an interruption, less than size + one chunk. */
  bytesSent: number
}

/**
 * A device-initiated collection (e.g. from a crash handler): the same collect-and-upload as a
 * `logs` job, from this process, on its own connection. It works whether or not the agent
 * daemon runs: the audit and outbox are shared under the data lock, and the spool entry is
 * owned by this process's pid, so a running agent never resumes it at the same time — but
 * picks it up if this process is killed.
 */
export async function uploadDeviceLogs(options: {dataDir: string; sinceMs?: number; proxy?: string; onProgress?: (done: number, total: number) => void}): Promise<AgentLogsUploadResult> {
  const {config, files, uploadApi} = await createUploadContext({dataDir: options.dataDir, proxy: options.proxy})
  const since = options.sinceMs === undefined ? undefined : new Date(Date.now() - options.sinceMs).toISOString()
  const service = new LogsService({config: async () => config, files, api: uploadApi, recorder: new EventRecorder(files, config.outboxMax)})
  try {
    const r = await service.collectAndUpload({since, onProgress: options.onProgress, actor: `local:${safeUser()}`})
    return {serial: config.serial, bundleId: r.bundleId, size: r.size, sha256: r.sha256, files: r.files, since: since ?? null, resumedFrom: r.resumedFrom, bytesSent: r.bytesSent}
  } catch (error) {
    throw asTetherError(error)
  }
}

function asTetherError(error: unknown): unknown {
  if (error instanceof JobFailure) {
    if (error.code === 'UPLOAD_STALLED') return new UnavailableError(error.message, {code: error.code, suggestions: ['The bundle stays in the spool; run the command again (or let the running agent) resume it.']})
    return new OperationFailedError(error.message, {code: error.code})
  }
  if (error instanceof UploadHttpError) {
    if (error.status === 401) return new AuthError(`the server did not accept the device certificate: ${error.message}`, {code: error.code})
    if (error.status === 403) return new ForbiddenError(`the server refused this device (revoked?): ${error.message}`, {code: error.code})
    return new OperationFailedError(error.message, {code: error.code})
  }
  return error
}

function safeUser(): string {
  try {
    return userInfo().username
  } catch {
    // No passwd entry for this uid (containers): the uid still identifies the caller.
    return String(process.getuid?.() ?? 'unknown')
  }
}
