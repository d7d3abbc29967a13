import {UsageError} from './errors.js'

const UNITS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000}

/**
 * Parses durations such as "250ms", "30s", "15m", "24h", "7d", "1h30m". `what` names the
 * flag or field so that the error says where the bad value came from.
 */
export function parseDuration(text: string, what = 'duration'): number {
  const input = text.trim()
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy
  let total = 0
  let matched = 0
  let m: RegExpExecArray | null
  while ((m = re.exec(input)) !== null) {
    total += Number(m[1]) * UNITS[m[2]]
    matched = re.lastIndex
  }
  if (input === '' || matched !== input.length || !Number.isFinite(total) || total <= 0) {
    throw new UsageError(`${what}: "${text}" is not a duration; use e.g. 500ms, 30s, 15m, 24h, 7d`)
  }
  return Math.round(total)
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)}h`
  return `${Math.round(ms / 86_400_000)}d`
}
