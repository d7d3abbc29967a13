/** A satisfiable byte range of a file: first and last byte, inclusive. */
export interface ByteRange {
  start: number
  end: number
}

/**
 * Parses a single `Range: bytes=N-` or `bytes=N-M` (what the agent sends to resume a download).
 * undefined: no usable Range header, serve the whole file (RFC 9110 lets a server ignore one it
 * does not support, e.g. several ranges or a suffix range); 'unsatisfiable': starts past the end (416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  const match = /^bytes=(\d{1,16})-(\d{0,16})$/.exec(header.trim())
  if (!match) return undefined
  const start = Number(match[1])
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1)
  if (start >= size || end < start) return 'unsatisfiable'
  return {start, end}
}
