import {Flags} from '@oclif/core'
import {TetherCommand} from '../../../shared/command.js'
import type {RotateRootResult} from '../../../client/update-repo/rotate-root.js'

export default class UpdatesRepoRotateRoot extends TetherCommand {
  static override description = `Sign the next root version: new root keys, threshold, online keys or just a later expiry.

The new root N+1 is signed by a threshold of root N's keys and by its own threshold, as devices require; N.root.json is kept so that a device with any older root walks every version. With --new-keys the old root key files move to REPO/keys/retired/root-vN/; once the new root is published nothing needs them.`
  static override examples = [
    '<%= config.bin %> updates repo rotate-root --dir ./release-repo',
    '<%= config.bin %> updates repo rotate-root --dir ./release-repo --new-keys 3 --threshold 2',
    '<%= config.bin %> updates repo rotate-root --dir ./release-repo --online-keys online-keys.json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    dir: Flags.string({description: 'The repository directory.', required: true}),
    threshold: Flags.integer({description: 'Root signatures the new root requires (default: the current threshold).'}),
    'new-keys': Flags.integer({description: 'Replace the root keys with this many new ones.'}),
    'online-keys': Flags.string({description: 'The server\'s public snapshot/timestamp keys (JSON from `tether server updates-keys`).'}),
    expires: Flags.string({description: 'How long the new root is valid.', default: '365d'}),
  }

  async run(): Promise<RotateRootResult> {
    const {flags} = await this.parse(UpdatesRepoRotateRoot)
    const {parseDuration} = await import('../../../shared/duration.js')
    const {rotateRoot} = await import('../../../client/update-repo/rotate-root.js')
    const result = await rotateRoot({
      dir: flags.dir,
      threshold: flags.threshold,
      newKeys: flags['new-keys'],
      onlineKeysFile: flags['online-keys'],
      expiresMs: parseDuration(flags.expires, '--expires'),
    })
    if (!this.jsonEnabled()) {
      const {renderFields} = await import('../../../shared/output.js')
      this.log(
        renderFields([
          ['Root', `version ${result.previousVersion} → ${result.rootVersion}, ${result.threshold} of ${result.rootKeyIds.length} keys, expires ${result.rootExpires}`],
          ['New key files', result.newKeyFiles.length > 0 ? result.newKeyFiles.join(', ') : 'none (same root keys)'],
          ['Retired key files', result.retiredKeyFiles.length > 0 ? result.retiredKeyFiles.join(', ') : null],
          ['Online keys', result.onlineKeysChanged ? 'replaced from --online-keys' : 'unchanged'],
        ]),
      )
    }
    return result
  }
}
