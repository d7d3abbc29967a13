import type {Hook} from '@oclif/core'

/**
 * "Did you mean" for scripts and pipes. @oclif/plugin-not-found offers the closest command only
 * as a prompt on a terminal; without one it just says the command does not exist. This hook
 * (run alongside the plugin's) names the closest command there too.
 */
const hook: Hook.CommandNotFound = async function (options) {
  if (process.stdin.isTTY) return
  const ids = options.config.commands.filter((c) => !c.hidden).map((c) => c.id)
  const best = closestCommand(options.id, ids)
  if (best) process.stderr.write(`Did you mean: ${options.config.bin} ${best.replaceAll(':', ' ')}\n`)
}

export default hook

/** The command id nearest to `typed` by edit distance, when it is near enough to be a typo. */
export function closestCommand(typed: string, ids: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const id of ids) {
    const d = editDistance(typed, id)
    if (d < bestDistance) {
      best = id
      bestDistance = d
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(typed.length / 3)) ? best : undefined
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]
}
