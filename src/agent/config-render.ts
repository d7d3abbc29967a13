import type {ConfigResult} from './config-edit.js'

/** Human rendering of agent.json values: text as is, everything else as indented JSON. */
export function renderConfigValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2)
}

const compact = (v: unknown): string => (v === undefined || v === null ? 'unset' : JSON.stringify(v))

export function renderConfigChange(r: ConfigResult): string {
  if (!r.changed) return `${r.key}: unchanged (${compact(r.value)}); nothing written`
  const when = r.restartNeeded ? 'the agent reads this setting at start: it applies at the next `tether agent start` (or service restart)' : 'a running agent applies it within a poll interval'
  return `${r.key}: ${compact(r.previous)} → ${compact(r.value)}\nWritten to ${r.file}; ${when}.`
}
