import {ResultWithExitCode, TetherCommand} from '../../shared/command.js'
import {ExitCode} from '../../shared/errors.js'
import type {AuditVerifyResult} from '../../client/admin-api.js'

export default class AuditVerify extends TetherCommand {
  static override description = `Check the audit log's hash chain on the server (audit:read, unscoped users).

Exits 0 when intact and 1 when events were edited, inserted, deleted or reordered.`
  static override examples = ['<%= config.bin %> audit verify', '<%= config.bin %> audit verify --json']
  static override enableJsonFlag = true

  async run(): Promise<AuditVerifyResult> {
    await this.parse(AuditVerify)
    const {withApi} = await import('../../client/session.js')
    const result = await withApi((api) => api.verifyAudit())
    if (!this.jsonEnabled()) {
      if (result.ok) this.log(`ok: the audit chain is intact (${result.checked} events checked).`)
      else {
        const {renderTable} = await import('../../shared/output.js')
        this.log(renderTable(['Seq', 'ID', 'Problem', 'Detail'], result.problems.map((p) => [p.seq ?? '-', p.id ?? '-', p.kind, p.message])))
      }
    }
    if (!result.ok) {
      throw new ResultWithExitCode(`the audit chain is broken: ${result.problems.length} problem(s) in ${result.checked} events`, result, ExitCode.FAILED, 'AUDIT_CHAIN_BROKEN')
    }
    return result
  }
}
