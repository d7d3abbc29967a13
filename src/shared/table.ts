import {styleText} from 'node:util'
import {Flags} from '@oclif/core'
import Table from 'cli-table3'
import {UsageError} from './errors.js'
import {colorEnabled} from './output.js'
import {csvField} from './csv.js'

/**
 * The one rendering of tables (cli-table3): fitted to the terminal's width (long cells wrap
 * at the column's edge; nothing is cut), and, for list commands, oclif's table
 * conventions: --columns, --csv, --no-header (shared flags below).
 */
export interface TableOptions {
  /** Column alignment, one entry per column (of the full table, before --columns). */
  align?: Array<'left' | 'right' | 'center'>
  /** Total width to fit; default the terminal's (stdout), else $COLUMNS, else no limit. */
  width?: number
  /** --columns: comma-separated header names to keep, in that order. */
  columns?: string
  /** --csv: RFC 4180 CSV instead of a table (never fitted or wrapped). */
  csv?: boolean
  /** --no-header. */
  noHeader?: boolean
}

/** The flags of every list command; pass them through with {@link tableView}. */
export const tableFlags = {
  columns: Flags.string({description: 'Only these columns, in this order (header names, comma-separated, e.g. serial,state).', helpValue: 'COL,…', helpGroup: 'TABLE'}),
  csv: Flags.boolean({description: 'Print CSV instead of a table (every cell in full).', helpGroup: 'TABLE', exclusive: ['json']}),
  'no-header': Flags.boolean({description: 'Leave out the header row.', helpGroup: 'TABLE'}),
}

/** What a list command's --columns, --csv and --no-header ask for. */
export type TableView = Pick<TableOptions, 'columns' | 'csv' | 'noHeader'>

export function tableView(flags: {columns?: string; csv?: boolean; 'no-header'?: boolean}): TableView {
  return {columns: flags.columns, csv: flags.csv, noHeader: flags['no-header']}
}

/** Smallest width a column is shrunk to when the table must fit. */
const MIN_COLUMN = 3

export function renderTable(head: string[], rows: Array<Array<string | number>>, options: TableOptions = {}): string {
  const picked = pickColumns(head, options.columns)
  const header = picked.map((i) => head[i])
  const body = rows.map((row) => picked.map((i) => String(row[i] ?? '')))
  if (options.csv) return [...(options.noHeader ? [] : [header]), ...body].map((r) => r.map(csvField).join(',')).join('\n')

  const color = colorEnabled()
  const align = options.align ? picked.map((i) => options.align![i] ?? 'left') : undefined
  const widths = fitWidths([...(options.noHeader ? [] : [header]), ...body], options.width ?? terminalWidth())
  const table = new Table({
    head: options.noHeader ? [] : color ? header.map((h) => styleText('bold', h)) : header,
    style: {head: [], border: [], compact: true},
    // cli-table3 reads colAligns[x]: an explicit undefined would replace its [] default.
    ...(align ? {colAligns: align} : {}),
    ...(widths ? {colWidths: widths.map((w) => w + 2)} : {}),
    // Cells wider than their column are broken at its edge, never cut: nothing is lost.
    wordWrap: true,
    wrapOnWordBoundary: false,
  })
  for (const row of body) table.push(row)
  return table.toString()
}

function pickColumns(head: string[], columns: string | undefined): number[] {
  if (columns === undefined) return head.map((_, i) => i)
  const key = (name: string): string => name.trim().toLowerCase().replace(/[\s_]+/g, '-')
  const names = columns.split(',').map(key).filter(Boolean)
  if (names.length === 0) throw new UsageError('--columns: name at least one column')
  return names.map((name) => {
    const i = head.findIndex((h) => key(h) === name)
    if (i < 0) throw new UsageError(`--columns: no column "${name}" (columns: ${head.map(key).join(', ')})`)
    return i
  })
}

function terminalWidth(): number | undefined {
  if (process.stdout.isTTY && process.stdout.columns) return process.stdout.columns
  const env = Number(process.env.COLUMNS)
  return Number.isInteger(env) && env > 0 ? env : undefined
}

/**
 * Content widths that fit `width` (borders and one space of padding a side included): the widest
 * column gives way first, down to MIN_COLUMN. Undefined when the table fits as it is.
 */
export function fitWidths(rows: string[][], width: number | undefined): number[] | undefined {
  if (width === undefined || rows.length === 0) return undefined
  const n = rows[0].length
  const natural = Array.from({length: n}, (_, c) => Math.max(1, ...rows.map((r) => Math.max(...r[c].split('\n').map(visibleLength)))))
  const available = width - (3 * n + 1)
  const widths = [...natural]
  let total = widths.reduce((a, b) => a + b, 0)
  if (total <= available) return undefined
  while (total > available) {
    const widest = widths.indexOf(Math.max(...widths))
    if (widths[widest] <= MIN_COLUMN) break
    widths[widest]--
    total--
  }
  return widths
}

function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001B\[[0-9;]*m/g, '').length
}

