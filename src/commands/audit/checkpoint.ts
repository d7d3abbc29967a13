import {Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {CheckpointResult} from '../../client/admin-api.js'

export default class AuditCheckpoint extends TetherCommand {
  static override description = `Get a signed checkpoint of the audit chain's head, to keep outside the support center.

The server signs its chain head (seq, hash, time) with a key from its data dir, which whoever can only write the database does not have. Keep the checkpoint (-o FILE) in a ticket, a signed mail or another system; a later \`tether audit verify --checkpoint FILE\` proves the chain still extends it: a rewrite or a truncation behind it fails. The server also signs every few minutes on its own and hands each checkpoint to every connected device (audit:read).`
  static override examples = [
    '<%= config.bin %> audit checkpoint',
    '<%= config.bin %> audit checkpoint -o audit-checkpoint-2026-11-29.json',
    '<%= config.bin %> audit checkpoint --latest --json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    output: Flags.string({char: 'o', description: 'Also write the checkpoint to this file (for `audit verify --checkpoint`).'}),
    latest: Flags.boolean({description: 'The latest checkpoint the server signed, without signing the current head.'}),
  }

  async run(): Promise<CheckpointResult> {
    const {flags} = await this.parse(AuditCheckpoint)
    const {withApi} = await import('../../client/session.js')
    const result = await withApi((api) => api.auditCheckpoint(!flags.latest))
    const {checkpoint, publicKey} = result
    if (!checkpoint) {
      const {OperationFailedError} = await import('../../shared/errors.js')
      throw new OperationFailedError('no checkpoint yet: the audit chain is empty', {code: 'NO_CHECKPOINT'})
    }
    if (flags.output) {
      const {writeCheckpointFile} = await import('../../client/checkpoint-file.js')
      await writeCheckpointFile(flags.output, {checkpoint, publicKey})
    }
    if (!this.jsonEnabled()) {
      const {renderFields} = await import('../../shared/output.js')
      this.log(
        renderFields([
          ['Seq', String(checkpoint.seq)],
          ['Hash', checkpoint.hash],
          ['Signed', checkpoint.time],
          ['Key', `${checkpoint.keyId} (Ed25519 ${publicKey.publicKey})`],
          ['Signature', checkpoint.signature],
          ['Written to', flags.output ?? null],
        ]),
      )
    }
    return result
  }
}
