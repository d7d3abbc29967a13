import {styleText} from 'node:util'
import Table from 'cli-table3'

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

export interface TableOptions {
  /** Column alignment, one entry per column. */
  align?: Array<'left' | 'right' | 'center'>
}

/** A cli-table3 table with no colour codes unless the terminal wants them. */
export function renderTable(head: string[], rows: Array<Array<string | number>>, options: TableOptions = {}): string {
  const color = colorEnabled()
  const table = new Table({
    head: color ? head.map((h) => styleText('bold', h)) : head,
    style: {head: [], border: [], compact: true},
    // cli-table3 reads colAligns[x]: an explicit undefined would replace its [] default.
    ...(options.align ? {colAligns: options.align} : {}),
    wordWrap: true,
  })
  for (const row of rows) table.push(row.map((cell) => String(cell)))
  return table.toString()
}

/** Plain "key: value" lines for `show` commands. */
export function renderFields(fields: Array<[string, string | number | boolean | null | undefined]>): string {
  const width = Math.max(...fields.map(([k]) => k.length))
  return fields.map(([k, v]) => `${paint('bold', k.padEnd(width))}  ${v ?? '-'}`).join('\n')
}
