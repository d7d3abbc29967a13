import {strict as assert} from 'node:assert'
import fc from 'fast-check'

/**
 * Hostile input for the fuzz suites (test/server/fuzz, test/protocol/frames.fuzz.test.ts): text
 * that is not well-formed Unicode, NUL, oversized strings, numbers at the edges of what JSON and
 * doubles can carry, absurd nesting and wrong types. Everything here is JSON-able; raw texts that
 * JSON.stringify cannot produce (1e400, truncated documents, bad %-escapes) are listed apart.
 */

/** One UTF-16 code unit, any of the 65,536: fc's 'binary' unit never yields a lone surrogate. */
const codeUnit = fc.oneof(fc.integer({min: 0, max: 0xffff}), fc.integer({min: 0xd800, max: 0xdfff})).map((n) => String.fromCharCode(n))

export const TRICKY_STRINGS = [
  '\ud800',
  'a\udc00b',
  '\udbff',
  'x\udfff\ud800y',
  '\u0000',
  'nul\u0000byte',
  '',
  ' ',
  '%',
  '%ff',
  '../../etc/passwd',
  '\u202e\u200b\ufeff',
  '😀',
  '__proto__',
  'constructor',
  "' OR 1=1 --",
  '\r\n\t',
  'null',
  '-1',
  '1e400',
] as const

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  {weight: 3, arbitrary: fc.constantFrom(...TRICKY_STRINGS)},
  {weight: 3, arbitrary: fc.string({unit: codeUnit, maxLength: 24})},
  {weight: 1, arbitrary: fc.string({unit: 'binary', maxLength: 24})},
  // Just over the usual bounds (64, 128, 255, 1024) and far over them.
  {weight: 1, arbitrary: fc.constantFrom(65, 129, 256, 1025, 70_000).map((n) => 'x'.repeat(n))},
)

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(-0, -1, 0.5, 2 ** 31, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, 1e21, 65_536),
  fc.double({noNaN: true, noDefaultInfinity: true}),
  fc.integer(),
)

/** A value nested `depth` levels deep (arrays or objects), around the 32-level limit. */
export function nested(depth: number, kind: 'array' | 'object', leaf: unknown = 1): unknown {
  let value = leaf
  for (let i = 0; i < depth; i++) value = kind === 'array' ? [value] : {a: value}
  return value
}

export const deepValue: fc.Arbitrary<unknown> = fc.tuple(fc.constantFrom(31, 32, 33, 200), fc.constantFrom('array' as const, 'object' as const)).map(([d, k]) => nested(d, k))

/** Any hostile JSON value: hostile leaves, wrong types, deep nesting, hostile keys. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  {weight: 4, arbitrary: hostileString},
  {weight: 2, arbitrary: hostileNumber},
  {weight: 1, arbitrary: fc.constantFrom<unknown>(true, false, null, [], {})},
  {weight: 1, arbitrary: deepValue},
  {weight: 2, arbitrary: fc.dictionary(hostileString, fc.oneof(hostileString, hostileNumber), {maxKeys: 3})},
  {weight: 1, arbitrary: fc.array(fc.oneof(hostileString, hostileNumber), {maxLength: 3})},
  {weight: 1, arbitrary: fc.jsonValue({maxDepth: 3})},
)

/** Texts that are not what JSON.stringify writes: broken, huge numbers, deep, duplicate or poisoned keys. */
export const hostileJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '{',
    '{"a":',
    '[1,]',
    "{'a':1}",
    'NaN',
    '{"a":1e400}',
    '{"a":-1e400}',
    '{"a":123456789012345678901234567890}',
    '{"a":1,"a":"\\ud800"}',
    '{"__proto__":{"admin":true}}',
    '{"constructor":{"prototype":{"x":1}}}',
    '"\\udfff"',
    '{"\\u0000":"\\u0000"}',
    '\ufeff{}',
    'null',
    '[]',
  ),
  fc.constantFrom(33, 1000, 100_000).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.constantFrom(33, 1000).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  fc.string({unit: codeUnit, maxLength: 40}),
)

/** Numbers a JSON text can hold but a double cannot (Infinity, 0 by underflow) or not exactly. */
export const RAW_NUMBERS = ['1e400', '-1e400', '1e-400', '123456789012345678901234567890', '9007199254740993', '-0'] as const

/** The JSON text with its first number value replaced by a raw token that JSON.stringify never writes. */
export function withRawNumber(text: string, token: string): string {
  return text.replace(/([:[])-?\d+(\.\d+)?([eE][+-]?\d+)?(?=[,}\]])/, `$1${token}`)
}

/**
 * %-escapes a string byte by byte (its UTF-8), like encodeURIComponent but total: a lone
 * surrogate goes out as the bytes Node encodes it to (U+FFFD) instead of throwing URIError.
 */
export function percentEncode(text: string): string {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte)
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** Path or query text with escapes no decoder accepts: a lone '%', non-hex, overlong and surrogate UTF-8. */
export const BAD_ESCAPES = ['%', '%zz', '%ff', '%C0%AF', '%ED%A0%80', '%E2%82', '%00', 'a%2Fb', '%2e%2e', '%25%']

/** Text a client gets must be well-formed Unicode without NUL: what the peers' own checks accept. */
export function assertCleanText(text: string, what: string): void {
  assert.ok(text.isWellFormed() && !text.includes('\u0000'), `${what} is not well-formed Unicode without NUL: ${JSON.stringify(text).slice(0, 300)}`)
}

/** A stack frame, a source path or a module path in text meant for a client. */
const INTERNALS = /\n\s+at |\bat [^\s]+ \(|node_modules|\/src\/|\.[jt]s:\d+/

export function assertNoInternals(text: string, what: string): void {
  assert.ok(!INTERNALS.test(text), `${what} reveals internals: ${text.slice(0, 500)}`)
}

/**
 * Bounds of one fc.assert: runs and wall time (interrupting is not a failure: the time limit
 * exists so a slow machine runs fewer cases, not so it fails). TETHER_FUZZ_SCALE=10 for a long
 * run; TETHER_FUZZ_SEED and TETHER_FUZZ_PATH replay a failure fast-check reported.
 */
export function fuzzParameters<T>(numRuns: number, timeLimitMs: number, examples: T[] = []): fc.Parameters<T> {
  const scale = Number(process.env.TETHER_FUZZ_SCALE ?? 1)
  const seed = process.env.TETHER_FUZZ_SEED
  return {
    numRuns: Math.max(1, Math.round(numRuns * scale)),
    interruptAfterTimeLimit: Math.round(timeLimitMs * scale),
    markInterruptAsFailure: false,
    examples,
    ...(seed === undefined ? {} : {seed: Number(seed), path: process.env.TETHER_FUZZ_PATH}),
  }
}
