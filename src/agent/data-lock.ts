import {open, rm, stat} from 'node:fs/promises'

/**
 * A lock file shared by the running agent and the `tether agent ...` commands, so that the
 * hash chain in audit.log and the outbox are never written by two processes at once.
 * O_EXCL creation is atomic on local filesystems; a lock older than staleMs is from a
 * crashed holder and is broken.
 */
export async function withDataLock<T>(path: string, fn: () => Promise<T>, options: {timeoutMs?: number; staleMs?: number} = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000
  const staleMs = options.staleMs ?? 30_000
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600)
      await handle.writeFile(String(process.pid))
      await handle.close()
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const age = await stat(path).then((s) => Date.now() - s.mtimeMs, (statError: NodeJS.ErrnoException) => (statError.code === 'ENOENT' ? 0 : Promise.reject(statError)))
      if (age > staleMs) await rm(path, {force: true})
      else if (Date.now() > deadline) throw new Error(`could not lock ${path} within ${timeoutMs}ms (held by another tether agent process)`)
      else await new Promise((resolve) => setTimeout(resolve, 15))
    }
  }
  try {
    return await fn()
  } finally {
    await rm(path, {force: true})
  }
}
