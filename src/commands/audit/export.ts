import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'

export interface AuditExportResult {
  file: string | null
  format: 'jsonl' | 'csv'
  bytes: number
  /** Events exported. */
  count: number
  /** The chain head the export ends at: keep it (or a checkpoint) outside to anchor the export. */
  head: {seq: number; hash: string}
}

export default class AuditExport extends TetherCommand {
  static override description = `Export audit events as JSON Lines or CSV, streamed in constant memory.

With -o the file appears complete or not at all (written to a temp file, then renamed). Times are ISO-8601 or a duration back from now (24h, 7d). The export itself is audited. It ends with the chain head it covers (seq and hash; on stderr when the export goes to stdout): keep that outside, with the file, to anchor it.`
  static override examples = [
    '<%= config.bin %> audit export --since 7d -o audit.jsonl',
    '<%= config.bin %> audit export --since 2026-01-01 --until 2026-02-01 --format csv -o january.csv',
    '<%= config.bin %> audit export --device SN-1234 --action tunnel.open | jq .actor',
  ]
  static override enableJsonFlag = true
  static override flags = {
    since: Flags.string({description: 'Events at or after this time.'}),
    until: Flags.string({description: 'Events before this time.'}),
    user: Flags.string({description: 'Only events by this user.'}),
    device: Flags.string({description: 'Only events about this device serial.'}),
    action: Flags.string({description: 'Only this action, e.g. auth.login.'}),
    format: Flags.string({description: 'Output format.', options: ['jsonl', 'csv'], default: 'jsonl'}),
    output: Flags.string({char: 'o', description: 'Write to this file (default: stdout).'}),
  }

  async run(): Promise<AuditExportResult> {
    const {flags} = await this.parse(AuditExport)
    const {UsageError} = await import('../../shared/errors.js')
    if (this.jsonEnabled() && !flags.output) throw new UsageError('--json needs --output FILE (the export itself goes to stdout)')
    const {parseTime} = await import('../../client/cli-input.js')
    const format = flags.format as 'jsonl' | 'csv'
    const query = {
      since: parseTime(flags.since, '--since'),
      until: parseTime(flags.until, '--until'),
      user: flags.user,
      device: flags.device,
      action: flags.action,
      format,
    }
    const {withApi} = await import('../../client/session.js')
    const {bytes, count, head} = await withApi((api) => api.exportAudit(query, flags.output ?? process.stdout))
    if (!this.jsonEnabled()) {
      const headLine = `Chain head: seq ${head.seq}, hash ${head.hash}`
      if (flags.output) this.log(`Wrote ${count} events (${bytes} bytes of ${format}) to ${flags.output}.\n${headLine}`)
      else this.logToStderr(headLine)
    }
    return {file: flags.output ?? null, format, bytes, count, head}
  }
}
