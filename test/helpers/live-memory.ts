import {setFlagsFromString} from 'node:v8'
import {runInNewContext} from 'node:vm'

// A full collection on demand, without starting mocha with --expose-gc: the flag is set before
// a fresh context reads its global `gc`.
setFlagsFromString('--expose-gc')
const collect = runInNewContext('gc') as () => void

/**
 * Bytes still reachable right now (JS heap plus Buffers), after a full collection. RSS is the
 * wrong measure for "holds at most N bytes": it counts garbage not yet collected and memory the
 * allocator keeps, and swung from 24 to 58 MiB between identical runs of one stream.
 */
export function liveBytes(): number {
  collect()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external
}
