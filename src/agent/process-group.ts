import type {ChildProcess} from 'node:child_process'

/**
 * Kills a child started with `detached: true` and everything it started (its process group):
 * a hook or a diagnostic script that forks must not leave grandchildren behind on timeout.
 */
export function killProcessGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch (error) {
    // The group may already be gone (ESRCH); otherwise fall back to the child alone.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') child.kill('SIGKILL')
  }
}
