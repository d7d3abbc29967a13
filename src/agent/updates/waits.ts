import type {Clock} from '../clock.js'
import {isInWindow, nextWindowOpen, type InstallWindow} from './window.js'

/**
 * The waits of an update (for its install window, for an approval at the device), on the injected
 * clock so that tests move time instead of sleeping. A wait ends early, with the signal's reason,
 * when the job is cancelled, times out or the agent stops.
 */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error)
    const onAbort = (): void => {
      clock.clearTimeout(timer)
      reject(signal.reason as Error)
    }
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, {once: true})
  })
}

/** Longest single sleep: a wall-clock jump (NTP, a manual fix) is noticed within this. */
const MAX_WINDOW_SLEEP_MS = 3_600_000

/** Resolves once `clock.now()` is inside the window; `onWaiting` is told when the wait starts (with when it opens). */
export async function waitForWindow(window: InstallWindow, clock: Clock, signal: AbortSignal, onWaiting: (opensAt: number) => Promise<void>): Promise<void> {
  if (isInWindow(window, clock.now())) return
  await onWaiting(nextWindowOpen(window, clock.now()))
  while (!isInWindow(window, clock.now())) {
    const opensAt = nextWindowOpen(window, clock.now())
    await sleep(clock, Math.min(Math.max(opensAt - clock.now(), 1), MAX_WINDOW_SLEEP_MS), signal)
  }
}

/** Polls `check` every `everyMs` until it returns a value. */
export async function pollUntil<T>(check: () => Promise<T | undefined>, clock: Clock, everyMs: number, signal: AbortSignal): Promise<T> {
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    await sleep(clock, everyMs, signal)
  }
}
