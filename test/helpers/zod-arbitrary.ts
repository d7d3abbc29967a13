import fc from 'fast-check'
import type {ZodType} from 'zod'
import {hostileValue} from './hostile.js'

/**
 * Values shaped like a zod schema, mostly valid and sometimes hostile, so that fuzzed requests and
 * frames get past the first check often enough to reach the code behind it. It reads the schema's
 * own definition (zod 4 `_zod.def`), so a new field or route is fuzzed without anyone listing it:
 *  - each field is valid for its schema (regex via fc.stringMatching, bounds, enums, literals) or,
 *    one time in `hostility`, a hostile value;
 *  - objects sometimes lose a required key or gain an unknown (hostile) one;
 *  - `known` strings (ids of rows that exist) are mixed into free strings to reach deeper code.
 */
export interface SchemaFuzzOptions {
  known?: readonly string[]
  /** One field in this many is hostile (default 8). */
  hostility?: number
}

type Def = {type: string; [key: string]: unknown}
const defOf = (schema: ZodType): Def => (schema as unknown as {_zod: {def: Def}})._zod.def

export function fromSchema(schema: ZodType, options: SchemaFuzzOptions = {}, depth = 0): fc.Arbitrary<unknown> {
  const valid = validFor(schema, options, depth)
  return fc.oneof({weight: (options.hostility ?? 8) - 1, arbitrary: valid}, {weight: 1, arbitrary: hostileValue})
}

function validFor(schema: ZodType, options: SchemaFuzzOptions, depth: number): fc.Arbitrary<unknown> {
  const def = defOf(schema)
  const inner = (s: unknown) => fromSchema(s as ZodType, options, depth + 1)
  // Recursive schemas (none yet) and runaway nesting end in a plain leaf.
  if (depth > 6) return fc.constant(null)
  switch (def.type) {
    case 'string':
      return stringFor(schema, options)
    case 'number':
      return numberFor(schema)
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    case 'enum':
      return fc.constantFrom(...Object.values(def.entries as Record<string, string>))
    case 'literal':
      return fc.constantFrom(...(def.values as unknown[]))
    case 'optional':
    case 'default':
      return fc.option(inner(def.innerType), {nil: undefined})
    case 'nullable':
      return fc.option(inner(def.innerType), {nil: null})
    case 'array':
      return fc.array(inner(def.element), {maxLength: 3})
    case 'record':
      return fc.dictionary(validFor(def.keyType as ZodType, options, depth + 1) as fc.Arbitrary<string>, inner(def.valueType), {maxKeys: 3})
    case 'union':
      return fc.oneof(...(def.options as ZodType[]).map((o) => validFor(o, options, depth + 1)))
    case 'pipe':
      return validFor(def.in as ZodType, options, depth)
    case 'object':
      return objectFor(def, options, depth)
    default:
      // unknown, any and anything this walker does not know: arbitrary JSON.
      return fc.jsonValue({maxDepth: 2})
  }
}

function objectFor(def: Def, options: SchemaFuzzOptions, depth: number): fc.Arbitrary<unknown> {
  const shape = def.shape as Record<string, ZodType>
  const fields = Object.fromEntries(Object.entries(shape).map(([k, s]) => [k, fromSchema(s, options, depth + 1)]))
  const keys = Object.keys(shape)
  return fc
    .tuple(
      fc.record(fields),
      rarely(fc.constantFrom(...(keys.length > 0 ? keys : ['']))),
      rarely(fc.tuple(fc.oneof(fc.string({maxLength: 8}), fc.constantFrom('\ud800', '\u0000', '__proto__')), hostileValue)),
    )
    .map(([record, drop, extra]) => {
      // fc.record leaves optional keys present as undefined: JSON.stringify drops them anyway.
      const value: Record<string, unknown> = {...record}
      if (drop !== null) delete value[drop]
      if (extra !== null) Object.defineProperty(value, extra[0], {value: extra[1], enumerable: true, configurable: true, writable: true})
      return value
    })
}

/** null five times in six (fc.option's `freq` is the chance of nil, the other way round). */
export function rarely<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.oneof({weight: 5, arbitrary: fc.constant(null)}, {weight: 1, arbitrary})
}

function stringFor(schema: ZodType, options: SchemaFuzzOptions): fc.Arbitrary<string> {
  const s = schema as unknown as {minLength: number | null; maxLength: number | null}
  const def = defOf(schema)
  const checks = (def.checks as Array<{_zod: {def: {pattern?: RegExp}}}> | undefined) ?? []
  const pattern = (def.pattern as RegExp | undefined) ?? checks.map((c) => c._zod.def.pattern).find((p) => p instanceof RegExp)
  const min = s.minLength ?? 0
  const max = Math.min(s.maxLength ?? 40, 40)
  const free = pattern ? fc.stringMatching(pattern).filter((t) => t.length >= min && t.length <= (s.maxLength ?? Infinity)) : fc.string({minLength: min, maxLength: Math.max(min, max)})
  // Only the known ids that fit: an id that fails the field's own pattern tells nothing new.
  const known = (options.known ?? []).filter((k) => (!pattern || new RegExp(pattern.source, pattern.flags.replace('g', '')).test(k)) && k.length >= min && k.length <= (s.maxLength ?? Infinity))
  return known.length > 0 ? fc.oneof(free, fc.constantFrom(...known)) : free
}

function numberFor(schema: ZodType): fc.Arbitrary<number> {
  const n = schema as unknown as {minValue: number | null; maxValue: number | null; isInt: boolean}
  // fc.integer is 32-bit; bounds beyond that (4 GiB bundle sizes) are valid when clamped.
  const min = Math.max(n.minValue ?? -1e6, -(2 ** 31))
  const max = Math.min(n.maxValue ?? 1e6, 2 ** 31 - 1)
  return n.isInt ? fc.integer({min: Math.ceil(min), max: Math.floor(max)}) : fc.double({min, max, noNaN: true})
}
