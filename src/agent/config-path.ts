import type {z} from 'zod'

/**
 * Dotted keys into a zod object schema ("logSources", "backoff.capMs", "diagnostics.disk-check"),
 * resolved against the schema itself so that `tether agent config` knows every field the agent
 * knows, including ones added later, without a list of its own.
 */

export type Segment = string

/** The kind of value a path leads to, after defaults and optional wrappers are peeled off. */
export type NodeKind = 'object' | 'record' | 'array' | 'scalar'

interface Def {
  type: string
  innerType?: z.ZodType
  in?: z.ZodType
  shape?: Record<string, z.ZodType>
  valueType?: z.ZodType
  element?: z.ZodType
}

const def = (s: z.ZodType): Def => (s as unknown as {_zod: {def: Def}})._zod.def

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional'])

/** The schema under its defaults and optional/nullable wrappers. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema
  for (let i = 0; i < 16; i++) {
    const d = def(s)
    if (WRAPPERS.has(d.type) && d.innerType) s = d.innerType
    else if (d.type === 'pipe' && d.in) s = d.in
    else break
  }
  return s
}

export function kindOf(schema: z.ZodType): NodeKind {
  const t = def(unwrap(schema)).type
  return t === 'object' ? 'object' : t === 'record' ? 'record' : t === 'array' ? 'array' : 'scalar'
}

/** The element schema of an array node. */
export function elementOf(schema: z.ZodType): z.ZodType | undefined {
  return def(unwrap(schema)).element
}

/** The field names of an object node. */
export function fieldsOf(schema: z.ZodType): string[] {
  return Object.keys(def(unwrap(schema)).shape ?? {})
}

/**
 * Splits KEY into the segments the schema understands. Record entries (diagnostic names) may
 * hold dots themselves: the entry name is the shortest run of segments after which the rest is
 * still a valid path into the entry ("diagnostics.db.check.command" → entry "db.check").
 * Returns undefined, and the deepest known prefix, when KEY names nothing.
 */
export function resolvePath(root: z.ZodType, key: string): {path: Segment[]; schema: z.ZodType} | {path: undefined; known: string} {
  const parts = key.split('.')
  if (key === '' || parts.some((p) => p === '')) return {path: undefined, known: ''}
  const walk = (schema: z.ZodType, rest: string[], done: Segment[]): {path: Segment[]; schema: z.ZodType} | undefined => {
    if (rest.length === 0) return {path: done, schema}
    const d = def(unwrap(schema))
    if (d.type === 'object') {
      const field = d.shape?.[rest[0]]
      return field ? walk(field, rest.slice(1), [...done, rest[0]]) : undefined
    }
    if (d.type === 'record' && d.valueType) {
      for (let n = 1; n <= rest.length; n++) {
        const found = walk(d.valueType, rest.slice(n), [...done, rest.slice(0, n).join('.')])
        if (found) return found
      }
    }
    return undefined
  }
  const found = walk(root, parts, [])
  if (found) return found
  let known = ''
  for (let n = parts.length - 1; n > 0; n--) {
    if (walk(root, parts.slice(0, n), [])) {
      known = parts.slice(0, n).join('.')
      break
    }
  }
  return {path: undefined, known}
}

type Json = unknown

export function getAt(value: Json, path: Segment[]): Json {
  let v = value
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined
    v = (v as Record<string, Json>)[p]
  }
  return v
}

/** A copy of `value` with `path` set to `next` (or removed when next is undefined); parents are created as needed. */
export function setAt(value: Json, path: Segment[], next: Json): Json {
  if (path.length === 0) return next
  const [head, ...rest] = path
  const obj = value !== null && typeof value === 'object' && !Array.isArray(value) ? {...(value as Record<string, Json>)} : {}
  const child = setAt(obj[head], rest, next)
  if (child === undefined) delete obj[head]
  else obj[head] = child
  return obj
}
