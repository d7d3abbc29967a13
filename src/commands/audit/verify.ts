import {Flags} from '@oclif/core'
import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'
import {ExitCode} from '../../shared/errors.js'
import type {AuditVerifyResult} from '../../client/admin-api.js'

export default class AuditVerify extends TetherCommand {
  static override description = `Check the audit log's hash chain on the server, and every anchor of it outside the database (audit:read, unscoped users).

Walks the whole chain and names every event that was edited, inserted, deleted or reordered; checks each checkpoint you kept (--checkpoint FILE, from \`tether audit checkpoint -o FILE\`) and each checkpoint the devices witnessed: a chain rewritten or truncated behind one of them fails, even when every hash was recomputed. Prints the head it verified up to: keep it, or a checkpoint, outside. Exits 0 when everything holds, 1 otherwise.`
  static override examples = [
    '<%= config.bin %> audit verify',
    '<%= config.bin %> audit verify --checkpoint audit-checkpoint-2026-11-01.json --checkpoint audit-checkpoint-2026-11-29.json',
    '<%= config.bin %> audit verify --json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    checkpoint: Flags.string({description: 'A checkpoint file you kept (repeatable); the chain must still extend it.', multiple: true}),
  }

  async run(): Promise<AuditVerifyResult> {
    const {flags} = await this.parse(AuditVerify)
    const {readCheckpointFile} = await import('../../client/checkpoint-file.js')
    const kept = await Promise.all((flags.checkpoint ?? []).map((file) => readCheckpointFile(file)))
    const {withApi} = await import('../../client/session.js')
    const result = await withApi((api) => api.verifyAudit(kept.map((k) => k.checkpoint)))
    if (!this.jsonEnabled()) await this.render(result)
    if (!result.ok) {
      throw new ResultWithExitCode(`the audit chain is broken: ${result.problems.length} problem(s) in ${result.checked} events`, result, ExitCode.FAILED, 'AUDIT_CHAIN_BROKEN')
    }
    return result
  }

  private async render(result: AuditVerifyResult): Promise<void> {
    const anchors = [
      result.checkpoints.length > 0 ? `${result.checkpoints.filter((c) => c.verdict === 'ok').length} of ${result.checkpoints.length} checkpoint(s) hold` : null,
      `${result.witnesses.devices} device witness(es) checked`,
    ].filter(Boolean)
    if (result.ok) this.log(`ok: the audit chain is intact (${result.checked} events checked; ${anchors.join('; ')}).`)
    else {
      const {renderTable} = await import('../../shared/output.js')
      this.log(renderTable(['Seq', 'ID', 'Problem', 'Detail'], result.problems.map((p) => [p.seq ?? '-', p.id ?? '-', p.kind, p.message])))
      if (result.truncated) this.log('(more problems were found than listed)')
    }
    this.log(`Verified up to seq ${result.head.seq}, hash ${result.head.hash}`)
  }
}
