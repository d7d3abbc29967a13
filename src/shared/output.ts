import {styleText} from 'node:util'

type Style = Parameters<typeof styleText>[0]

/** Colour only on a terminal, never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false
  if (process.env.TERM === 'dumb') return false
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true
  return Boolean(stream.isTTY)
}

export function paint(style: Style, text: string, stream: NodeJS.WriteStream = process.stdout): string {
  return colorEnabled(stream) ? styleText(style, text) : text
}

// Tables have their own module (width fitting, --columns/--csv/--no-header); re-exported for the
// commands that import them from here.
export {renderTable, type TableOptions} from './table.js'

/** Plain "key: value" lines for `show` commands. */
export function renderFields(fields: Array<[string, string | number | boolean | null | undefined]>): string {
  const width = Math.max(...fields.map(([k]) => k.length))
  return fields.map(([k, v]) => `${paint('bold', k.padEnd(width))}  ${v ?? '-'}`).join('\n')
}
