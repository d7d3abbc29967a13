import {Flags} from '@oclif/core'
import {TetherCommand} from '../../../shared/command.js'
import type {InitRepoResult} from '../../../client/update-repo/init.js'

export default class UpdatesRepoInit extends TetherCommand {
  static override description = `Create a signed update repository on the release machine (no server needed).

Generates Ed25519 keys for the offline roles, root and targets (--keys of each, --threshold signatures needed), as files in REPO/keys (mode 0600, directory 0700), and writes root version 1 and an empty targets.json to REPO/metadata. The root also names the server's online snapshot and timestamp keys: pass --online-keys with the file \`tether server updates-keys\` prints. Without it, test keys are generated into REPO/keys/online/ (a real server signs with its own).

Keep REPO/keys offline: they decide what every device will install. Nothing here is sent anywhere.`
  static override examples = [
    '<%= config.bin %> updates repo init --dir ./release-repo --online-keys online-keys.json',
    '<%= config.bin %> updates repo init --dir ./release-repo --threshold 2 --keys 3 --expires 365d --online-keys online-keys.json',
    '<%= config.bin %> updates repo init --dir /tmp/test-repo --threshold 1 --keys 1',
  ]
  static override enableJsonFlag = true
  static override flags = {
    dir: Flags.string({description: 'The repository directory (created).', required: true}),
    threshold: Flags.integer({description: 'Signatures needed for root and for targets.', default: 2}),
    keys: Flags.integer({description: 'Keys to generate for root, and as many for targets.', default: 3}),
    expires: Flags.string({description: 'How long root version 1 is valid.', default: '365d'}),
    'targets-expires': Flags.string({description: 'How long the empty targets.json is valid (each `updates add` re-signs it).', default: '90d'}),
    'online-keys': Flags.string({description: 'The server\'s public snapshot/timestamp keys (JSON from `tether server updates-keys`).'}),
  }

  async run(): Promise<InitRepoResult> {
    const {flags} = await this.parse(UpdatesRepoInit)
    const {parseDuration} = await import('../../../shared/duration.js')
    const {initRepo} = await import('../../../client/update-repo/init.js')
    const result = await initRepo({
      dir: flags.dir,
      threshold: flags.threshold,
      keys: flags.keys,
      rootExpiresMs: parseDuration(flags.expires, '--expires'),
      targetsExpiresMs: parseDuration(flags['targets-expires'], '--targets-expires'),
      onlineKeysFile: flags['online-keys'],
    })
    if (!this.jsonEnabled()) {
      const {renderFields} = await import('../../../shared/output.js')
      this.log(
        renderFields([
          ['Repository', result.dir],
          ['Root', `version ${result.rootVersion}, ${result.threshold} of ${result.rootKeyIds.length} keys, expires ${result.rootExpires}`],
          ['Targets', `${result.threshold} of ${result.targetsKeyIds.length} keys, expires ${result.targetsExpires}`],
          ['Online keys', result.onlineKeys.source === 'file' ? 'from --online-keys' : 'TEST keys generated in keys/online/'],
          ['Key files', `${result.keyFiles.length} (mode 0600)`],
        ]),
      )
      if (result.onlineKeys.source === 'generated') {
        this.logToStderr('Warning: no --online-keys: the root names test snapshot/timestamp keys. A server needs these keys, or run `tether updates repo rotate-root --online-keys FILE` with the server\'s.')
      }
    }
    return result
  }
}
