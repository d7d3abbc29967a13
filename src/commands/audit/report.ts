import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'

export default class AuditReport extends TetherCommand {
  static override description = `The periodic access review: every remote access in a period (tunnels, diagnostics, log pulls, updates), grouped by the incident reason given for it.

Each access shows who reached which device, when, for how long, how much data, and what was run or installed. Flags mark what a reviewer must look at: no-reason (none given, and no approved request to take one from), outside-approval (no approved access request covered it), disabled-user (the user is disabled now). Built from the audit trail; producing it is audited.`
  static override examples = [
    '<%= config.bin %> audit report --since 90d',
    '<%= config.bin %> audit report --since 2026-07-01 --until 2026-10-01 --customer st-mary --format csv > q3.csv',
    '<%= config.bin %> audit report --since 90d --format json | jq .totals',
  ]
  static override flags = {
    since: Flags.string({description: 'Start of the period: a time, a date, or a duration back from now (90d).', required: true}),
    until: Flags.string({description: 'End of the period (default: now).'}),
    customer: Flags.string({description: 'Only this customer\'s devices.'}),
    format: Flags.string({description: 'Output format.', options: ['md', 'csv', 'json'], default: 'md'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(AuditReport)
    const {parseTime} = await import('../../client/cli-input.js')
    const query = {since: parseTime(flags.since, '--since')!, until: parseTime(flags.until, '--until'), customer: flags.customer}
    const {withApi} = await import('../../client/session.js')
    const report = await withApi((api) => api.auditReport(query))
    const {reportCsv, reportMarkdown} = await import('../../client/audit-report.js')
    const render = {md: reportMarkdown, csv: reportCsv, json: (r: typeof report) => `${JSON.stringify(r, null, 2)}\n`}[flags.format as 'md' | 'csv' | 'json']
    process.stdout.write(render(report))
  }
}
