import {mkdir, rmdir, stat} from 'node:fs/promises'
import {UnavailableError} from '../shared/errors.js'

/**
 * Runs fn while holding a lock directory (mkdir is atomic on every file system we meet).
 * Used around token refresh: two tether processes refreshing with the same refresh token
 * would look like token theft to the server, which then revokes the whole session.
 */
export async function withFileLock<T>(lockDir: string, fn: () => Promise<T>, options: {waitMs?: number; staleMs?: number} = {}): Promise<T> {
  const waitMs = options.waitMs ?? 15_000
  const staleMs = options.staleMs ?? 30_000
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      await mkdir(lockDir, {mode: 0o700})
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const age = await stat(lockDir).then(
        (s) => Date.now() - s.mtimeMs,
        // Gone between mkdir and stat: the holder just released it; try again at once.
        () => 0,
      )
      if (age > staleMs) {
        // A crashed holder: take over its lock (a peer may have removed it first).
        await rmdir(lockDir).catch(() => undefined)
        continue
      }
      if (Date.now() > deadline) throw new UnavailableError(`another tether process holds ${lockDir}; try again (or remove it if no tether is running)`)
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100))
    }
  }
  try {
    return await fn()
  } finally {
    // Already gone only if a peer judged us stale; nothing left to release then.
    await rmdir(lockDir).catch(() => undefined)
  }
}
