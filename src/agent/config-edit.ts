import {isDeepStrictEqual} from 'node:util'
import type {z} from 'zod'
import {parseProxyUrl} from '../shared/proxy-connect.js'
import {UsageError} from '../shared/errors.js'
import {elementOf, fieldsOf, getAt, kindOf, resolvePath, setAt, type Segment} from './config-path.js'
import {AgentConfig, agentFiles, readAgentConfig, writeAgentConfig, type AgentFiles} from './data-dir.js'
import {withDataLock} from './data-lock.js'
import {localActor} from './enroll.js'
import {EventRecorder} from './events.js'
import {ProxySecrets, splitProxyUrl} from './proxy-secret.js'

/**
 * `tether agent config get|set|add|remove`: edits agent.json through the schema the agent reads
 * it with, so a value the agent would refuse is refused here, naming the key. Writes are atomic
 * and locked against a concurrent edit, and every change is a line in the local audit. The
 * running agent re-reads agent.json on its poll (jobs, inventory, route: agent.ts).
 */

export type ConfigOperation = 'get' | 'set' | 'add' | 'remove'

export interface ConfigResult {
  file: string
  operation: ConfigOperation
  /** The dotted key, or null for the whole file. */
  key: string | null
  /** The value after the operation (for get: the value). */
  value: unknown
  previous?: unknown
  changed: boolean
  /** True when a running agent reads this setting only at start (agent.ts): it applies at the next `agent start`. */
  restartNeeded: boolean
}

/** Settings the running agent reads once, at start (agent.ts, jobs/runner.ts); everything else is re-read on its poll or per job. */
const READ_AT_START = ['pollMs', 'backoff', 'heartbeatTimeoutMs', 'outboxMax', 'jobs.concurrency', 'jobs.queueMax']

/** True when KEY is, holds or sits inside a setting read at start. */
function restartNeeded(path: Segment[]): boolean {
  const key = path.join('.')
  return READ_AT_START.some((k) => key === k || key.startsWith(`${k}.`) || k.startsWith(`${key}.`))
}

/** Keys that are not the customer's to set here, with where they do change. */
const MANAGED: Record<string, string> = {
  version: 'the file format version is not a setting',
  server: 'the server is part of the enrolment: run `tether agent enroll --force --server URL --token TOKEN`',
  serial: 'the serial is the device identity: run `tether agent enroll --force --token TOKEN`',
  proxyPasswordStore: 'it follows the proxy: `tether agent config set proxy http://user:password@host:port` stores the password',
}

export async function getConfig(dataDir: string, key?: string): Promise<ConfigResult> {
  const files = agentFiles(dataDir)
  const config = await readAgentConfig(files)
  if (key === undefined) return {file: files.config, operation: 'get', key: null, value: config, changed: false, restartNeeded: false}
  const {path} = resolveKey(key)
  return {file: files.config, operation: 'get', key, value: getAt(config, path) ?? null, changed: false, restartNeeded: false}
}

export async function editConfig(dataDir: string, operation: Exclude<ConfigOperation, 'get'>, key: string, raw?: string): Promise<ConfigResult> {
  const files = agentFiles(dataDir)
  const {path, schema} = resolveKey(key)
  if (MANAGED[path[0]]) throw new UsageError(`${key}: cannot be changed with agent config; ${MANAGED[path[0]]}`)
  if (operation !== 'remove' && raw === undefined) throw new UsageError(`${operation} ${key}: needs a VALUE`, {suggestions: [`tether agent config ${operation} ${key} VALUE`]})

  const result = await withDataLock(files.lock, async () => {
    const config = await readAgentConfig(files)
    const previous = getAt(config, path)
    const next = await nextConfig(files, config, operation, key, path, schema, raw)
    const value = getAt(next, path)
    const changed = !isDeepStrictEqual(next, config)
    if (changed) await writeAgentConfig(files, next)
    return {file: files.config, operation, key, previous: previous ?? null, value: value ?? null, changed, restartNeeded: changed && restartNeeded(path)}
  })
  if (result.changed) {
    await new EventRecorder(files).record(
      {action: 'agent.config.changed', outcome: 'success', actor: localActor(), details: {key, operation, from: result.previous, to: result.value}},
      {forServer: false},
    )
  }
  return result
}

function resolveKey(key: string): {path: Segment[]; schema: z.ZodType} {
  const found = resolvePath(AgentConfig, key)
  if (found.path) return found
  const fields = fieldsOf(found.known ? (resolvePath(AgentConfig, found.known) as {schema: z.ZodType}).schema : AgentConfig)
  const last = key.slice(found.known ? found.known.length + 1 : 0).split('.')[0]
  const near = closest(last, fields)
  const where = found.known ? `${found.known} has` : 'agent.json has'
  throw new UsageError(`"${key}" is not a setting of agent.json${near ? `; did you mean ${found.known ? `${found.known}.` : ''}${near}?` : ''}`, {suggestions: [`${where}: ${fields.join(', ') || '(named entries)'}`]})
}

/** The known name within two edits of a mistyped one (logSorces → logSources), if any. */
function closest(word: string, names: string[]): string | undefined {
  let best: {name: string; d: number} | undefined
  for (const name of names) {
    const d = editDistance(word.toLowerCase(), name.toLowerCase())
    if (d <= 2 && (!best || d < best.d)) best = {name, d}
  }
  return best?.name
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({length: b.length + 1}, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]
}

async function nextConfig(files: AgentFiles, config: AgentConfig, operation: Exclude<ConfigOperation, 'get'>, key: string, path: Segment[], schema: z.ZodType, raw: string | undefined): Promise<AgentConfig> {
  if (path[0] === 'proxy' && path.length === 1) return proxyChange(files, config, operation === 'remove' ? 'null' : (raw as string), key)
  const current = getAt(config, path)
  switch (operation) {
    case 'set':
      return firstValid(key, candidates(raw as string).map((v) => setAt(config, path, v)), kindOf(schema) === 'array' ? `to add one entry: tether agent config add ${key} VALUE` : undefined, {value: raw as string})
    case 'add': {
      if (kindOf(schema) !== 'array') throw new UsageError(`add ${key}: ${key} is not a list; use \`tether agent config set ${key} VALUE\``)
      const list = Array.isArray(current) ? current : []
      const options = candidates(raw as string)
      if (options.some((v) => list.some((e) => isDeepStrictEqual(e, v)))) return config
      return firstValid(key, options.map((v) => setAt(config, path, [...list, v])), elementHint(schema), {index: path.length, value: raw as string})
    }
    case 'remove': {
      if (raw === undefined) return firstValid(key, [setAt(config, path, undefined)])
      if (kindOf(schema) !== 'array') throw new UsageError(`remove ${key} ${raw}: ${key} is not a list; run \`tether agent config remove ${key}\` to reset it`)
      const options = candidates(raw)
      const list = Array.isArray(current) ? current : []
      return firstValid(key, [setAt(config, path, list.filter((e) => !options.some((v) => isDeepStrictEqual(e, v))))])
    }
  }
}

/** How VALUE may be meant: JSON (numbers, lists, objects, null) first, else the text as a string. */
function candidates(raw: string): unknown[] {
  try {
    const json: unknown = JSON.parse(raw)
    return typeof json === 'string' ? [json] : [json, raw]
  } catch {
    // Not JSON: a plain string such as a path or a host:port.
    return [raw]
  }
}

/**
 * The first candidate config the agent's schema accepts; else the first one's problem, naming the
 * key and the value given. For `add`, the list index the new entry would take is left out of the key.
 */
function firstValid(key: string, options: unknown[], hint?: string, given?: {index?: number; value: string}): AgentConfig {
  let first: z.core.$ZodIssue | undefined
  for (const option of options) {
    const parsed = AgentConfig.safeParse(option)
    if (parsed.success) return parsed.data
    first ??= parsed.error.issues[0]
  }
  const path = (first?.path ?? []).filter((p, i) => !(i === given?.index && typeof p === 'number')).map(String)
  const at = path.length > 0 ? path.join('.') : key
  const value = given ? ` (given: ${given.value})` : ''
  throw new UsageError(`${at}: ${first?.message ?? 'not accepted'}${value}`, {suggestions: hint ? [hint] : []})
}

function elementHint(schema: z.ZodType): string | undefined {
  const element = elementOf(schema)
  return element && kindOf(element) === 'object' ? 'give the entry as JSON, e.g. \'{"command": ["df", "-h"]}\'' : undefined
}

/** The proxy URL goes to agent.json without its password; the password goes to the credential store, as at enrolment. */
async function proxyChange(files: AgentFiles, config: AgentConfig, raw: string, key: string): Promise<AgentConfig> {
  if (raw === 'null' || raw === '' || raw === 'none') return {...config, proxy: null, proxyPasswordStore: null}
  // Refuses what the agent could not dial, with the same message (naming the key).
  parseProxyUrl(raw, key, [])
  const split = splitProxyUrl(raw)
  let store = config.proxyPasswordStore
  if (split.password !== null && split.account) store = await new ProxySecrets({filePath: files.proxySecrets}).save(split.account, split.password)
  else if (!split.account || (config.proxy && splitProxyUrl(config.proxy).account !== split.account)) store = null
  return AgentConfig.parse({...config, proxy: split.url, proxyPasswordStore: store})
}
