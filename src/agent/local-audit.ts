import {createHash} from 'node:crypto'
import {appendFile, open} from 'node:fs/promises'
import {writeFileAtomic} from '../shared/atomic-file.js'
import {readTextIfExists} from '../shared/optional-file.js'

/**
 * The device's own audit trail: audit.log, one JSON object a line, each carrying the SHA-256
 * of the previous line's hash and its own content. Editing or deleting a line breaks the chain
 * at that line; cutting lines off the end is caught by audit.head (the last seq and hash).
 */
export type AuditOutcome = 'success' | 'denied' | 'failure'

export interface LocalAuditInput {
  action: string
  outcome: AuditOutcome
  /** Who did it: "local:<user>" for commands on the device, "server" for remote requests, "agent" for the daemon itself. */
  actor: string
  details?: Record<string, unknown>
  /** Set when the event is also queued for the server (same id there). */
  eventId?: string
  /** ISO time; default now. */
  time?: string
}

export interface LocalAuditEntry {
  seq: number
  time: string
  action: string
  outcome: AuditOutcome
  actor: string
  details: Record<string, unknown>
  eventId?: string
  prev: string
  hash: string
}

export const GENESIS = '0'.repeat(64)

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

export function entryHash(entry: Omit<LocalAuditEntry, 'hash'>): string {
  const {seq, time, action, outcome, actor, details, eventId, prev} = entry
  return createHash('sha256').update(`${prev}\n${canonicalJson({seq, time, action, outcome, actor, details, eventId})}`).digest('hex')
}

export interface VerifyResult {
  ok: boolean
  entries: number
  /** First broken line (1-based) and why. */
  brokenAt?: number
  problem?: string
}

export class LocalAudit {
  constructor(
    readonly path: string,
    private readonly headPath = `${path.replace(/\.log$/, '')}.head`,
  ) {}

  /** Appends one entry. Callers hold the data-dir lock (withDataLock) so the chain stays linear. */
  async append(input: LocalAuditInput): Promise<LocalAuditEntry> {
    const last = await this.lastEntry()
    const body: Omit<LocalAuditEntry, 'hash'> = {
      seq: (last?.seq ?? 0) + 1,
      time: input.time ?? new Date().toISOString(),
      action: input.action,
      outcome: input.outcome,
      actor: input.actor,
      details: input.details ?? {},
      ...(input.eventId ? {eventId: input.eventId} : {}),
      prev: last?.hash ?? GENESIS,
    }
    const entry: LocalAuditEntry = {...body, hash: entryHash(body)}
    await appendFile(this.path, `${JSON.stringify(entry)}\n`, {mode: 0o600})
    await writeFileAtomic(this.headPath, `${JSON.stringify({seq: entry.seq, hash: entry.hash})}\n`, 0o600)
    return entry
  }

  async readAll(): Promise<LocalAuditEntry[]> {
    const text = (await readTextIfExists(this.path)) ?? ''
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as LocalAuditEntry)
  }

  async verify(): Promise<VerifyResult> {
    const lines = ((await readTextIfExists(this.path)) ?? '').split('\n')
    if (lines.at(-1) === '') lines.pop()
    let prev = GENESIS
    let seq = 0
    for (let i = 0; i < lines.length; i++) {
      const broken = (problem: string): VerifyResult => ({ok: false, entries: lines.length, brokenAt: i + 1, problem})
      let entry: LocalAuditEntry
      try {
        entry = JSON.parse(lines[i]) as LocalAuditEntry
      } catch {
        return broken('not a JSON line')
      }
      if (entry.seq !== seq + 1) return broken(`sequence jumps from ${seq} to ${entry.seq} (a line was removed or inserted)`)
      if (entry.prev !== prev) return broken('the link to the previous line does not match (a line before it was removed or changed)')
      const {hash, ...body} = entry
      if (entryHash(body) !== hash) return broken('the line was changed after it was written (hash mismatch)')
      prev = hash
      seq = entry.seq
    }
    const headText = (await readTextIfExists(this.headPath)) ?? ''
    if (headText.trim() !== '') {
      const head = JSON.parse(headText) as {seq: number; hash: string}
      if (head.seq !== seq || head.hash !== prev) {
        return {ok: false, entries: lines.length, brokenAt: lines.length, problem: `the log ends at entry ${seq} but audit.head records entry ${head.seq} (lines were cut off the end)`}
      }
    } else if (lines.length > 0) {
      return {ok: false, entries: lines.length, brokenAt: lines.length, problem: 'audit.head is missing'}
    }
    return {ok: true, entries: lines.length}
  }

  /** The last line, read from the end of the file so that appends stay cheap on a long log. */
  private async lastEntry(): Promise<LocalAuditEntry | undefined> {
    let handle
    try {
      handle = await open(this.path, 'r')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
    try {
      const {size} = await handle.stat()
      if (size === 0) return undefined
      const chunk = Math.min(size, 256 * 1024)
      const buffer = Buffer.alloc(chunk)
      await handle.read(buffer, 0, chunk, size - chunk)
      const lines = buffer.toString('utf8').split('\n').filter((l) => l.trim() !== '')
      const last = lines.at(-1)
      return last ? (JSON.parse(last) as LocalAuditEntry) : undefined
    } finally {
      await handle.close()
    }
  }
}
