import {Flags} from '@oclif/core'
import {agentDataDirFlag} from '../../agent/cli-flags.js'
import type {AuditView} from '../../agent/audit-view.js'
import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'
import {parseDuration} from '../../shared/duration.js'
import {ExitCode} from '../../shared/errors.js'
import {paint, renderTable} from '../../shared/output.js'

export default class AgentAudit extends TetherCommand {
  static override description = `Show this device's local audit: every remote interaction and every local policy change.

The log is hash-chained (audit.log + audit.head in the data dir). --verify checks the chain and exits 1 when a line was changed, removed or cut off.`

  static override examples = [
    '<%= config.bin %> agent audit',
    '<%= config.bin %> agent audit --since 24h',
    '<%= config.bin %> agent audit --verify',
    '<%= config.bin %> agent audit --since 7d --json',
  ]

  static override enableJsonFlag = true
  static override flags = {
    since: Flags.string({description: 'Only entries newer than this (e.g. 1h, 24h, 7d).', helpValue: 'DURATION'}),
    verify: Flags.boolean({description: 'Verify the hash chain; exit 1 when it is broken.'}),
    'data-dir': agentDataDirFlag,
  }

  async run(): Promise<AuditView> {
    const {flags} = await this.parse(AgentAudit)
    const sinceMs = flags.since === undefined ? undefined : parseDuration(flags.since, '--since')
    const [{readLocalAudit}, {agentDataDir}] = await Promise.all([import('../../agent/audit-view.js'), import('../../agent/data-dir.js')])
    const view = await readLocalAudit(agentDataDir(flags['data-dir']), {sinceMs, verify: flags.verify})
    if (!this.jsonEnabled()) {
      const rows = view.entries.map((e) => [e.seq, e.time, e.action, e.outcome, e.actor, detailsText(e.details)])
      this.log(rows.length > 0 ? renderTable(['#', 'time', 'action', 'outcome', 'actor', 'details'], rows) : 'No audit entries.')
      if (view.verify?.ok) this.log(paint('green', `chain verified: ${view.verify.entries} entries intact`))
    }
    if (view.verify && !view.verify.ok) {
      throw new ResultWithExitCode(`audit chain broken at line ${view.verify.brokenAt}: ${view.verify.problem}`, view, ExitCode.FAILED, 'AUDIT_CHAIN_BROKEN')
    }
    return view
  }
}

function detailsText(details: Record<string, unknown>): string {
  return Object.entries(details)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
}
