/**
 * Input that storage, hashing or a recursive walk would trip over, found before anything else
 * looks at it:
 *  - a string that is not well-formed Unicode (a lone surrogate, which SQLite stores as other
 *    bytes and PostgreSQL as U+FFFD, so a hash over it no longer matches the stored row);
 *  - a string holding U+0000, which PostgreSQL text cannot hold at all;
 *  - nesting deeper than any message of ours needs (JSON.stringify and canonical JSON recurse).
 * What enters through the API or the agent protocol is checked with findBadInput and refused,
 * naming the field; the audit log also stores its columns through storableText, so what it
 * hashes is exactly what the database gives back.
 */
export interface BadInput {
  /** Where, as path segments from the checked value (object keys, array indexes). */
  path: Array<string | number>
  problem: string
}

/** Deeper than any request body or protocol message needs; far below any stack limit. */
export const MAX_INPUT_DEPTH = 32

function textProblem(text: string): string | null {
  if (!text.isWellFormed()) return 'is not well-formed Unicode (a lone surrogate)'
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000)'
  return null
}

/**
 * A bad string, object key or nesting level in a JSON-like value (the first found, depth
 * first), or null. Iterative, so even a hostile depth cannot overflow the stack here.
 */
export function findBadInput(value: unknown, maxDepth = MAX_INPUT_DEPTH): BadInput | null {
  const stack: Array<{value: unknown; path: Array<string | number>}> = [{value, path: []}]
  while (stack.length > 0) {
    const {value: v, path} = stack.pop()!
    if (typeof v === 'string') {
      const problem = textProblem(v)
      if (problem) return {path, problem}
      continue
    }
    if (v === null || typeof v !== 'object') continue
    if (path.length >= maxDepth) return {path, problem: `is nested deeper than ${maxDepth} levels`}
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({value: v[i], path: [...path, i]})
      continue
    }
    const keys = Object.keys(v)
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]
      const problem = textProblem(key)
      if (problem) return {path: [...path, key], problem: `has a key that ${problem}`}
      stack.push({value: (v as Record<string, unknown>)[key], path: [...path, key]})
    }
  }
  return null
}

/**
 * A BadInput as a field name and message, e.g. "body.username: is not well-formed Unicode …".
 * The offending key itself is part of the path, so it is shown as storableText: an answer that
 * echoed a lone surrogate or NUL would be refused by the peer's own check (the agent decodes the
 * server's `error` with findBadInput) or by a strict JSON parser.
 */
export function describeBadInput(bad: BadInput, prefix: string): {field: string; message: string} {
  const field = [prefix, ...bad.path.map((p) => storableText(String(p)))].filter((p) => p !== '').join('.') || prefix
  return {field, message: `${field}: ${bad.problem}`}
}

/** The text as the database will return it: lone surrogates and NUL become U+FFFD. */
export function storableText(text: string): string {
  return text.toWellFormed().replaceAll('\u0000', '\uFFFD')
}
