import {open, readFile, rm, stat} from 'node:fs/promises'

/**
 * A lock file shared by the running agent and the `tether agent ...` commands, so that the
 * hash chain in audit.log and the outbox are never written by two processes at once.
 * O_EXCL creation is atomic on local filesystems. The file holds its holder's pid: a lock whose
 * holder is gone (killed mid-write, an agent stopped with a record in flight) is broken at once,
 * and one older than staleMs is broken whatever it holds (a holder on another host's pid space).
 */
export async function withDataLock<T>(path: string, fn: () => Promise<T>, options: {timeoutMs?: number; staleMs?: number} = {}): Promise<T> {
  // Callers in this process queue here, in order, and only the head contends for the file: fifty
  // streams recording at once no longer poll the file every 15 ms against each other, and two of
  // them can never both break the same dead holder's lock (one would delete the other's).
  const previous = inProcess.get(path) ?? Promise.resolve()
  let release!: () => void
  const mine = new Promise<void>((resolve) => (release = resolve))
  const tail = previous.then(() => mine)
  inProcess.set(path, tail)
  await previous
  try {
    return await withFileLock(path, fn, options)
  } finally {
    release()
    if (inProcess.get(path) === tail) inProcess.delete(path)
  }
}

/** Lock path → the end of this process's queue for it. */
const inProcess = new Map<string, Promise<void>>()

async function withFileLock<T>(path: string, fn: () => Promise<T>, options: {timeoutMs?: number; staleMs?: number}): Promise<T> {
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
      if (age > staleMs || (await holderGone(path))) await rm(path, {force: true})
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

/**
 * True when the pid in the lock file is no running process. An empty file is a holder between
 * creating and writing it: alive. Our own pid is another call of this process: alive.
 */
async function holderGone(path: string): Promise<boolean> {
  const text = await readFile(path, 'utf8').catch(() => '')
  const pid = Number(text.trim())
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    // EPERM: alive, another user's.
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}
