import {Args, Flags} from '@oclif/core'
import {TetherCommand} from '../../shared/command.js'
import type {AddTargetResult} from '../../client/update-repo/add-target.js'

export default class UpdatesAdd extends TetherCommand {
  static override description = `Add a package to the update repository and sign the new targets.json (on the release machine).

Copies PACKAGE to REPO/targets/<version>/<file>, records its length, SHA-256 and SHA-512 and the signed Tether metadata (version, models, minimum version, downgrade, hook names), and signs targets.json with the targets keys in REPO/keys. A version not newer than one already signed for the same model is refused unless --downgrade.`
  static override examples = [
    '<%= config.bin %> updates add --dir ./release-repo analyzer-2.4.1.tar.gz --version 2.4.1 --model "Analyzer X200"',
    '<%= config.bin %> updates add --dir ./release-repo analyzer-2.4.1.tar.gz --version 2.4.1 --model "Analyzer X200" --model "Analyzer X300" --min-version 2.0.0 --expires 90d',
    '<%= config.bin %> updates add --dir ./release-repo analyzer-2.3.9.tar.gz --version 2.3.9 --model "Analyzer X200" --downgrade',
  ]
  static override enableJsonFlag = true
  static override args = {
    package: Args.string({description: 'The package file to sign and publish.', required: true}),
  }
  static override flags = {
    dir: Flags.string({description: 'The repository directory.', required: true}),
    version: Flags.string({description: 'The package\'s semantic version.', required: true}),
    model: Flags.string({description: 'A device model it is for (repeatable).', required: true, multiple: true}),
    'min-version': Flags.string({description: 'The version a device must already run to install this one.'}),
    downgrade: Flags.boolean({description: 'Sign an explicit downgrade: devices may install it below their installed version.'}),
    expires: Flags.string({description: 'How long the new targets.json is valid.', default: '90d'}),
    'install-hook': Flags.string({description: 'The install hook name devices should run (mapped in their agent.json).'}),
    'health-check-hook': Flags.string({description: 'The health-check hook name.'}),
    'rollback-hook': Flags.string({description: 'The rollback hook name.'}),
  }

  async run(): Promise<AddTargetResult> {
    const {args, flags} = await this.parse(UpdatesAdd)
    const {parseDuration} = await import('../../shared/duration.js')
    const {addTarget} = await import('../../client/update-repo/add-target.js')
    const result = await addTarget({
      dir: flags.dir,
      packagePath: args.package,
      version: flags.version,
      models: flags.model,
      minVersion: flags['min-version'],
      downgrade: flags.downgrade,
      hooks: {install: flags['install-hook'], healthCheck: flags['health-check-hook'], rollback: flags['rollback-hook']},
      expiresMs: parseDuration(flags.expires, '--expires'),
    })
    if (!this.jsonEnabled()) {
      const {renderFields} = await import('../../shared/output.js')
      this.log(
        renderFields([
          ['Target', result.path],
          ['Models', result.custom.models.join(', ')],
          ['Size', `${result.length} bytes`],
          ['SHA-256', result.hashes.sha256],
          ['Targets', `version ${result.targetsVersion}, signed by ${result.signedBy.length} keys, expires ${result.targetsExpires}`],
        ]),
      )
    }
    return result
  }
}
