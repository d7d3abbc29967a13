import type {Scope} from '../protocol/api/common.js'
import {Slug} from '../protocol/api/common.js'
import {parseDuration} from '../shared/duration.js'
import {UsageError} from '../shared/errors.js'

/** `--customer acme --customer st-mary/icu` → scope entries; `--all` → every customer. */
export function parseScope(values: readonly string[] | undefined, all: boolean | undefined, flag = '--customer'): Scope {
  if (all) return {all: true, entries: []}
  const entries = (values ?? []).map((value) => {
    const [customer, site, extra] = value.split('/')
    if (extra !== undefined || !Slug.safeParse(customer).success || (site !== undefined && !Slug.safeParse(site).success)) {
      throw new UsageError(`${flag}: "${value}" is not CUSTOMER or CUSTOMER/SITE (lowercase slugs)`)
    }
    return site === undefined ? {customer} : {customer, site}
  })
  return {all: false, entries}
}

/** `--label room=3 --label team=icu` → {room: '3', team: 'icu'} */
export function parseLabels(values: readonly string[] | undefined, flag = '--label'): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const value of values ?? []) {
    const eq = value.indexOf('=')
    if (eq <= 0) throw new UsageError(`${flag}: "${value}" is not KEY=VALUE`)
    labels[value.slice(0, eq)] = value.slice(eq + 1)
  }
  return labels
}

/** An ISO-8601 time, a date, or a duration back from now ("24h" = 24 hours ago). */
export function parseTime(value: string | undefined, flag: string, now = Date.now()): string | undefined {
  if (value === undefined) return undefined
  if (/^\d+(\.\d+)?(ms|s|m|h|d|w)/.test(value.trim())) return new Date(now - parseDuration(value, flag)).toISOString()
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) throw new UsageError(`${flag}: "${value}" is not a time; use ISO-8601 (2026-01-31T12:00:00Z), a date, or a duration like 24h`)
  return new Date(ms).toISOString()
}

/** Reads all of stdin (for --password-stdin); one trailing newline is not part of the secret. */
export async function readStdinSecret(flag = '--password-stdin'): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError(`${flag}: pipe the secret in, e.g. \`cat pw.txt | tether … ${flag}\``)
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  if (!text) throw new UsageError(`${flag}: stdin was empty`)
  return text
}

export function scopeText(scope: Scope): string {
  if (scope.all) return 'all customers'
  if (scope.entries.length === 0) return 'none'
  return scope.entries.map((e) => (e.site ? `${e.customer}/${e.site}` : e.customer)).join(', ')
}
