import {createHash} from 'node:crypto'

/**
 * The arithmetic of a rollout, free of I/O: which device goes into which stage, and when the
 * failures are enough to halt.
 */

/**
 * How many devices each stage gets, for `total` devices and cumulative `percents` (last 100):
 * stage k holds up to ceil(total × percent_k) devices in all, and at least one more than the
 * stages before it while devices remain, so a 1% canary of 30 devices is one device, not none.
 * Trailing stages can be empty when there are fewer devices than stages.
 */
export function stageSizes(total: number, percents: readonly number[]): number[] {
  const sizes: number[] = []
  let cumulative = 0
  for (const percent of percents) {
    // The epsilon keeps 10% of 30 at 3 (floating point says 3.0000000000000004).
    const wanted = Math.min(total, Math.max(Math.ceil((total * percent) / 100 - 1e-9), cumulative + 1))
    sizes.push(Math.max(0, wanted - cumulative))
    cumulative = Math.max(cumulative, wanted)
  }
  return sizes
}

/**
 * Devices in a stable order per deployment: by a hash of deployment id and serial, so that the
 * canary is not always the lowest serial (the oldest device) yet the same for the same deployment.
 */
export function rolloutOrder(deploymentId: string, serials: readonly string[]): string[] {
  const key = (serial: string) => createHash('sha256').update(`${deploymentId}\0${serial}`).digest('hex')
  return [...serials].map((serial) => ({serial, key: key(serial)})).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((e) => e.serial)
}

/** Serials and their stage index, for a new deployment. */
export function assignStages(deploymentId: string, serials: readonly string[], percents: readonly number[]): Array<{serial: string; stage: number}> {
  const ordered = rolloutOrder(deploymentId, serials)
  const sizes = stageSizes(ordered.length, percents)
  const out: Array<{serial: string; stage: number}> = []
  let at = 0
  sizes.forEach((size, stage) => {
    for (const serial of ordered.slice(at, at + size)) out.push({serial, stage})
    at += size
  })
  return out
}

export type HaltRule = {kind: 'count'; count: number} | {kind: 'percent'; percent: number}

/** "2" or "5%" (validated by the API schema HaltAfter). */
export function parseHaltAfter(text: string): HaltRule {
  return text.endsWith('%') ? {kind: 'percent', percent: Number(text.slice(0, -1))} : {kind: 'count', count: Number(text)}
}

/**
 * Why the rollout must halt, or null. A percent counts against the devices dispatched so far
 * (those given a job), so a failing canary halts at once and a large stage is not judged by its
 * first report.
 */
export function haltReason(rule: HaltRule, failed: number, dispatched: number): string | null {
  if (failed === 0) return null
  if (rule.kind === 'count') return failed >= rule.count ? `${failed} device(s) failed (halt after ${rule.count})` : null
  const share = (failed * 100) / Math.max(dispatched, 1)
  return share >= rule.percent ? `${failed} of ${dispatched} dispatched device(s) failed, ${round(share)}% (halt after ${rule.percent}%)` : null
}

function round(n: number): number {
  return Math.round(n * 10) / 10
}
